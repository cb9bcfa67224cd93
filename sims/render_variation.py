"""Changes to how highway-env draws a frame, drawn once per dataset episode (issue 31).

A :class:`RenderVariation` is one episode's draw: a zoom (the frame rendered at ``zoom`` times the
window's pixels per metre, so it shows less or more of the road), the vehicles' and the road's
colours, a brightness factor, a Gaussian blur and Gaussian pixel noise. :data:`VARIATIONS` names
the ranges they are drawn from:

* ``none``: frames as highway-env draws them (the datasets before issue 31);
* ``train``: every change at once, for training; the vehicles' hues avoid
  :data:`HELD_OUT_HUES`, which no training frame shows;
* ``colours``: the vehicles' and the road's colours only (hues outside :data:`HELD_OUT_HUES`), in
  every episode; training adds brightness, blur and noise per sample in the pixels
  (:mod:`perception.augment`), and no zoom, which the network cannot read off a frame (issue 31);
* ``unseen-colours``: only the vehicles' colours change, to hues in :data:`HELD_OUT_HUES`, for the
  held-out test of colours never seen in training.

Vehicle colours go through highway-env's own ``vehicle.color`` (its ``VehicleGraphics.get_color``
reads it), so the body, headlights and roof all follow. The road is recoloured in the pixels:
highway-env fills it with exactly ``ROAD_RGB`` and draws its markings in exactly ``MARKING_RGB``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from sims.strict import ConfigError

ROAD_RGB = (100, 100, 100)  # highway-env's WorldSurface.GREY, the road's fill
MARKING_RGB = (255, 255, 255)  # its WorldSurface.WHITE, the lane markings
HELD_OUT_HUES = (0.75, 0.92)  # hues (of 1) that no ``train`` vehicle shows: violet to magenta
TRAINING_HUES = ((0.0, HELD_OUT_HUES[0]), (HELD_OUT_HUES[1], 1.0))  # every other hue


@dataclass(frozen=True)
class VariationRanges:
    """Where each change of :class:`RenderVariation` is drawn from, uniformly.

    :param zoom: range of the zoom factor (1: the window's own pixels per metre).
    :param brightness: range of the factor on every channel.
    :param blur_px: range of the Gaussian blur's standard deviation [px].
    :param noise_std: range of the pixel noise's standard deviation [of 1].
    :param colour_share: share of episodes whose vehicles and road are recoloured.
    :param vehicle_hues: hue bands (of 1) the vehicles' colours are drawn from.
    """

    zoom: tuple[float, float] = (1.0, 1.0)
    brightness: tuple[float, float] = (1.0, 1.0)
    blur_px: tuple[float, float] = (0.0, 0.0)
    noise_std: tuple[float, float] = (0.0, 0.0)
    colour_share: float = 0.0
    vehicle_hues: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    recolour_road: bool = False

    def __post_init__(self) -> None:
        for name in ("zoom", "brightness", "blur_px", "noise_std"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError(f"{name} must be a range 0 <= low <= high, got {(low, high)}")
        if self.zoom[0] <= 0:
            raise ConfigError(f"zoom must be > 0, got {self.zoom}")
        if not 0 <= self.colour_share <= 1:
            raise ConfigError(f"colour_share must lie in [0, 1], got {self.colour_share}")


VARIATIONS: dict[str, VariationRanges] = {
    "none": VariationRanges(),
    "train": VariationRanges(
        zoom=(0.8, 1.2),
        brightness=(0.5, 1.5),
        blur_px=(0.0, 1.0),
        noise_std=(0.0, 8 / 255),
        colour_share=0.7,
        vehicle_hues=TRAINING_HUES,
        recolour_road=True,
    ),
    "colours": VariationRanges(
        colour_share=1.0,
        vehicle_hues=TRAINING_HUES,
        recolour_road=True,
    ),
    "unseen-colours": VariationRanges(colour_share=1.0, vehicle_hues=(HELD_OUT_HUES,)),
}


def variation_ranges(name: str) -> VariationRanges:
    """The ranges named ``name`` in :data:`VARIATIONS`.

    :raises ConfigError: an unknown name, listing the valid ones.
    """
    if name not in VARIATIONS:
        raise ConfigError(f"unknown render variation '{name}'; valid: {', '.join(VARIATIONS)}")
    return VARIATIONS[name]


@dataclass(frozen=True)
class RenderVariation:
    """One episode's changes to the frames; see the module docstring.

    :param traffic_rgb: the other vehicles' colour, or None for highway-env's own.
    :param ego_rgb: the ego's colour, or None for highway-env's own.
    :param road_rgb: the road's fill colour, or None for highway-env's own.
    :param marking_rgb: the lane markings' colour, or None for highway-env's own.
    """

    zoom: float = 1.0
    brightness: float = 1.0
    blur_px: float = 0.0
    noise_std: float = 0.0
    traffic_rgb: tuple[int, int, int] | None = None
    ego_rgb: tuple[int, int, int] | None = None
    road_rgb: tuple[int, int, int] | None = None
    marking_rgb: tuple[int, int, int] | None = None

    @classmethod
    def draw(cls, ranges: VariationRanges, rng: np.random.Generator) -> RenderVariation:
        """Draw one episode's changes from ``ranges``.

        :param rng: the episode's generator (every draw is taken from it, in a fixed order).
        """
        zoom, brightness, blur_px, noise_std = (
            float(rng.uniform(*getattr(ranges, name)))
            for name in ("zoom", "brightness", "blur_px", "noise_std")
        )
        recolour = bool(rng.random() < ranges.colour_share)
        traffic, ego = (_vehicle_colour(ranges, rng) for _ in range(2))
        grey, tint = rng.uniform(60, 160), rng.uniform(-15, 15, size=3)
        road = tuple(int(np.clip(grey + t, 0, 255)) for t in tint)
        marking = tuple(int(value) for value in rng.uniform(200, 255, size=3))
        recolour_road = recolour and ranges.recolour_road
        return cls(
            zoom=zoom,
            brightness=brightness,
            blur_px=blur_px,
            noise_std=noise_std,
            traffic_rgb=traffic if recolour else None,
            ego_rgb=ego if recolour else None,
            road_rgb=_rgb(road) if recolour_road else None,
            marking_rgb=_rgb(marking) if recolour_road else None,
        )

    def paint(self, vehicles: list, ego: object) -> None:
        """Give highway-env's vehicles this episode's colours (before each render: vehicles that
        enter the road later are painted too).

        :param vehicles: the road's vehicles (``road.vehicles``), the ego among them.
        :param ego: the ego vehicle.
        """
        for vehicle in vehicles:
            colour = self.ego_rgb if vehicle is ego else self.traffic_rgb
            if colour is not None:
                vehicle.color = colour

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The frame as this episode shows it: road recoloured, brightness, blur, then noise.

        :param image: ``(H, W, 3)`` uint8 as highway-env rendered it.
        :param rng: draws the noise.
        :return: ``(H, W, 3)`` uint8.
        """
        pixels = image.astype(np.float32)
        for source, target in ((ROAD_RGB, self.road_rgb), (MARKING_RGB, self.marking_rgb)):
            if target is not None:
                pixels[np.all(image == source, axis=-1)] = target
        pixels *= self.brightness
        if self.blur_px > 0:
            pixels = gaussian_filter(pixels, sigma=(self.blur_px, self.blur_px, 0))
        if self.noise_std > 0:
            pixels += rng.normal(0.0, 255 * self.noise_std, size=pixels.shape)
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _vehicle_colour(ranges: VariationRanges, rng: np.random.Generator) -> tuple[int, int, int]:
    """A saturated colour with a hue from one of ``ranges.vehicle_hues`` (chosen by width)."""
    bands = np.array(ranges.vehicle_hues, dtype=float)
    widths = bands[:, 1] - bands[:, 0]
    band = bands[rng.choice(len(bands), p=widths / widths.sum())]
    hue = rng.uniform(*band)
    # Saturation at least 0.45: a grey car would be the road's colour, and highway-env's lighter
    # headlights of a pale colour would be the markings' white.
    red, green, blue = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 1.0), rng.uniform(0.6, 1.0))
    return _rgb((int(255 * red), int(255 * green), int(255 * blue)))


def _rgb(values: tuple[int, ...]) -> tuple[int, int, int]:
    red, green, blue = values
    return (red, green, blue)
