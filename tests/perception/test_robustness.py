"""The robustness report's perturbations do what they say, on a tiny untrained network."""

from __future__ import annotations

import torch

from perception.cnn import StnPerceptionNet
from perception.losses import perception_loss
from perception.robustness import brightness, colour_swap, fgsm, noise, pgd, scale, suite
from sims.dataset import LANE_ROWS, SLOTS, FrameSpec

SMALL = FrameSpec(width_px=64, height_px=32, scaling_px_per_m=1.0, stack=2, stride_steps=1)


def _batch() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand((2, 3 * SMALL.stack, SMALL.height_px, SMALL.width_px), generator=generator)
    vehicles = torch.zeros(2, SLOTS, 7)
    vehicles[:, 0] = torch.tensor([1.0, 10.0, 4.0, -2.0, 0.0, 1.0, 0.0])
    labels = {
        "vehicles": vehicles,
        "occupancy": torch.zeros(2, LANE_ROWS, SMALL.cells),
        "ego_lane": torch.tensor([1, 2]),
    }
    return pixels, labels


def test_attacks_stay_in_their_ball_and_raise_the_loss():
    torch.manual_seed(0)
    model = StnPerceptionNet(SMALL, width=4).eval()
    pixels, labels = _batch()
    epsilon = 4 / 255
    for attack in (fgsm(model, epsilon), pgd(model, epsilon)):
        attacked = attack(pixels, labels)
        assert (attacked - pixels).abs().max() <= epsilon + 1e-6
        assert attacked.min() >= 0 and attacked.max() <= 1
        assert not torch.equal(attacked, pixels)

    @torch.no_grad()
    def loss(x: torch.Tensor) -> float:
        output = model.forward_pixels(x)
        terms = perception_loss(output, labels["vehicles"], labels["occupancy"], labels["ego_lane"])
        return float(terms.total)

    assert loss(pgd(model, epsilon)(pixels, labels)) > loss(pixels)


def test_rendering_changes():
    pixels, labels = _batch()
    torch.testing.assert_close(scale(1.0)(pixels, labels), pixels, atol=1e-5, rtol=0)
    zoomed = scale(2.0)(pixels, labels)
    assert zoomed.shape == pixels.shape and not torch.allclose(zoomed, pixels)
    assert torch.equal(brightness(1.0)(pixels, labels), pixels)
    assert brightness(2.0)(pixels, labels).max() <= 1
    swapped = colour_swap()(pixels, labels)
    torch.testing.assert_close(swapped[:, 1], pixels[:, 0])  # red became green, frame by frame
    torch.testing.assert_close(swapped[:, 3], pixels[:, 5])
    noisy = noise(8 / 255)(pixels, labels)
    assert 0 < (noisy - pixels).abs().mean() < 8 / 255


def test_the_suite_names_every_family():
    model = StnPerceptionNet(SMALL, width=4)
    assert set(suite(model)) == {"fgsm", "pgd", "noise", "scale", "brightness", "colour-swap"}
