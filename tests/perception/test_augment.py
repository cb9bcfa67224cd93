"""Per-sample render variations while training: reproducible, in range, labels kept consistent."""

from __future__ import annotations

import torch

from perception.augment import AugmentRanges, augment


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
