"""Per-sample render variations while training: reproducible, in range, labels kept consistent."""

from __future__ import annotations

import colorsys

import torch

from perception.augment import PERMUTATIONS, AugmentRanges, augment
from sims.render_variation import HELD_OUT_HUES


def test_a_draw_is_reproducible_keeps_pixels_in_range_and_crops_what_a_zoom_pushes_out():
    pixels = torch.rand(4, 6, 16, 64)
    vehicles = torch.zeros(4, 2, 7)
    vehicles[:, 0, :3] = torch.tensor([1.0, 30.0, 0.0])  # 30 m ahead of a 32 m half window
    vehicles[:, 1, :3] = torch.tensor([1.0, -5.0, 2.0])
    labels = {"vehicles": vehicles, "zoom": torch.tensor([1.0, 1.0, 0.9, 1.1])}
    ranges = AugmentRanges(zoom=(1.1, 1.1))

    def draw() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return augment(
            pixels, labels, torch.Generator().manual_seed(3), half_m=(32.0, 8.0), ranges=ranges
        )

    (first, first_labels), (again, _) = draw(), draw()
    torch.testing.assert_close(first, again)
    assert first.shape == pixels.shape and 0 <= float(first.min()) <= float(first.max()) <= 1
    torch.testing.assert_close(first_labels["zoom"], torch.tensor([1.1, 1.1, 0.99, 1.21]))
    # 32 m / 1.1 = 29.1 m: the vehicle 30 m ahead leaves the frame, except where the total zoom
    # stays under 1 (0.9 x 1.1).
    assert first_labels["vehicles"][:, 0, 0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert (first_labels["vehicles"][:, 1, 0] == 1).all()
    assert (labels["vehicles"][:, 0, 0] == 1).all()  # the batch's own labels are left alone


def test_no_channel_order_paints_a_training_hue_in_the_held_out_band():
    # Every hue outside sims.render_variation.HELD_OUT_HUES stays outside under every order drawn,
    # and highway-env's yellow, green and blue vehicles among them.
    hues = [h / 200 for h in range(200) if not HELD_OUT_HUES[0] <= h / 200 <= HELD_OUT_HUES[1]]
    colours = [colorsys.hsv_to_rgb(hue, 1.0, 1.0) for hue in hues]
    colours += [
        (200 / 255, 200 / 255, 0.0),
        (50 / 255, 200 / 255, 0.0),
        (100 / 255, 200 / 255, 1.0),
    ]
    for order in PERMUTATIONS.tolist():
        for colour in colours:
            hue = colorsys.rgb_to_hsv(*(colour[channel] for channel in order))[0]
            assert not HELD_OUT_HUES[0] + 1e-9 < hue < HELD_OUT_HUES[1] - 1e-9, (order, colour)
