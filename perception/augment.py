"""Render variations drawn per sample while training (issue 31), on top of those of the dataset.

A dataset draws its render variation once per episode (:mod:`sims.render_variation`), so a few
episodes give few draws. :func:`augment` draws new ones for every sample of every batch, in the
pixels: a zoom about the ego (the spatial transformer's target warp follows it), the colour
channels reordered (:data:`PERMUTATIONS`) and scaled, a brightness factor, a blur and Gaussian
noise. The same draw applies to every frame of a sample's stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms.functional import gaussian_blur

from perception.zoom import zoom_about_centre
from sims.strict import ConfigError

# The colour channels' orders drawn: as they are, or red and blue swapped. That swap mirrors the
# hue circle about magenta (5/6), so it maps the hues held out of training
# (sims.render_variation.HELD_OUT_HUES, violet to magenta) onto themselves and every other hue
# outside them; the four other orders would paint highway-env's yellow or blue vehicles in that
# band, and the bench's unseen colours would have been seen.
PERMUTATIONS = torch.tensor([[0, 1, 2], [2, 1, 0]])


@dataclass(frozen=True)
class AugmentRanges:
    """The ranges each sample's draw is taken from, uniformly.

    :param zoom: the zoom factor's range, on top of the frame's own.
    :param brightness: the factor on every channel.
    :param channel_gain: each colour channel's own factor.
    :param noise_std: the pixel noise's standard deviation [of 1].
    :param blur_share: the share of samples blurred (sigma 1 px).
    """

    zoom: tuple[float, float] = (0.88, 1.12)
    brightness: tuple[float, float] = (0.5, 1.5)
    channel_gain: tuple[float, float] = (0.7, 1.3)
    noise_std: tuple[float, float] = (0.0, 8 / 255)
    blur_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("zoom", "brightness", "channel_gain", "noise_std"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")


def _uniform(count: int, bounds: tuple[float, float], generator: torch.Generator) -> Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(count, generator=generator)


def augment(
    pixels: Tensor,
    labels: dict[str, Tensor],
    generator: torch.Generator,
    *,
    half_m: tuple[float, float],
    ranges: AugmentRanges | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Draw and apply one variation per sample; see the module docstring.

    :param pixels: ``(B, 3 * stack, H, W)`` in [0, 1].
    :param labels: the batch's labels, with ``vehicles`` and ``zoom``.
    :param generator: draws every change (on the CPU).
    :param half_m: the window's half length and half width [m], to drop the vehicles a zoom pushes
        out of the frame.
    :return: the pixels and the labels (``zoom`` times the drawn zoom; vehicles out of view absent).
    """
    ranges = ranges or AugmentRanges()
    batch, channels, height, width = pixels.shape
    device = pixels.device
    zoom = _uniform(batch, ranges.zoom, generator).to(device)
    pixels = zoom_about_centre(pixels, zoom)
    frames = pixels.view(batch, channels // 3, 3, height, width)
    order = PERMUTATIONS[torch.randint(len(PERMUTATIONS), (batch,), generator=generator)]
    frames = torch.gather(frames, 2, order.to(device).view(batch, 1, 3, 1, 1).expand_as(frames))
    gain = _uniform(batch * 3, ranges.channel_gain, generator).view(batch, 1, 3, 1, 1)
    gain = gain * _uniform(batch, ranges.brightness, generator).view(batch, 1, 1, 1, 1)
    pixels = (frames * gain.to(device)).reshape(batch, channels, height, width)
    blurred = torch.rand(batch, generator=generator) < ranges.blur_share
    if blurred.any():
        chosen = blurred.to(device)
        pixels[chosen] = gaussian_blur(pixels[chosen], [5, 5], [1.0, 1.0])
    sigma = _uniform(batch, ranges.noise_std, generator).view(batch, 1, 1, 1)
    noise = torch.randn(pixels.shape, generator=generator) * sigma
    pixels = (pixels + noise.to(device)).clamp(0, 1)
    total = labels["zoom"].to(zoom.dtype) * zoom
    vehicles = labels["vehicles"].clone()
    reach = total.clamp(min=1.0).view(batch, 1)
    outside = (vehicles[..., 1].abs() > half_m[0] / reach) | (
        vehicles[..., 2].abs() > half_m[1] / reach
    )
    vehicles[outside] = 0.0
    return pixels, {**labels, "vehicles": vehicles, "zoom": total}
