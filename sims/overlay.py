"""Drawing world geometry over rendered frames: lines, boxes and a strip chart (OpenCV).

highway-env renders a window of the world at ``scaling`` pixels per metre whose top-left corner is
at ``origin``; :class:`PixelMap` is that mapping, read from the viewer after each render, so that
anything in world coordinates (a plan's centreline, a predicted path, a perceived box) lands on the
pixels of the vehicle it belongs to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

Colour = tuple[int, int, int]  # RGB, 0-255


@dataclass(frozen=True)
class PixelMap:
    """World metres to frame pixels: ``pixel = (world - origin) * pixels_per_m * scale``.

    :param origin_x_m: world x of the frame's left edge [m].
    :param origin_y_m: world y of the frame's top edge [m].
    :param pixels_per_m: highway-env's ``scaling``.
    :param scale: how much the frame was enlarged after rendering (``--scale``).
    """

    origin_x_m: float
    origin_y_m: float
    pixels_per_m: float
    scale: float = 1.0

    def to_pixels(self, x_m: np.ndarray, y_m: np.ndarray) -> np.ndarray:
        """``(N, 2)`` int32 pixel coordinates of the points, for OpenCV's polylines."""
        factor = self.pixels_per_m * self.scale
        columns = (np.asarray(x_m, dtype=np.float64) - self.origin_x_m) * factor
        rows = (np.asarray(y_m, dtype=np.float64) - self.origin_y_m) * factor
        return np.round(np.stack([columns, rows], axis=-1)).astype(np.int32)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` enlarged ``scale`` times in each direction (nearest pixel: crisp road markings)."""
    if scale == 1:
        return image
    height, width = image.shape[:2]
    return cv2.resize(image, (width * scale, height * scale), interpolation=cv2.INTER_NEAREST)


def draw_path(
    image: np.ndarray,
    pixels: PixelMap,
    x_m: np.ndarray,
    y_m: np.ndarray,
    colour: Colour,
    *,
    thickness_px: int = 2,
    dots: bool = False,
) -> None:
    """Draw a polyline through world points onto ``image`` in place (dots: one dot per point)."""
    points = pixels.to_pixels(x_m, y_m)
    if len(points) == 0:
        return
    if dots:
        for point in points:
            cv2.circle(image, (int(point[0]), int(point[1])), thickness_px + 1, colour, -1)
        return
    cv2.polylines(image, [points], isClosed=False, color=colour, thickness=thickness_px)


def draw_box(
    image: np.ndarray,
    pixels: PixelMap,
    *,
    x_m: float,
    y_m: float,
    heading_rad: float,
    length_m: float,
    width_m: float,
    colour: Colour,
    thickness_px: int = 1,
) -> None:
    """Draw the outline of a vehicle's box (centre, heading, size in metres) onto ``image``."""
    cos, sin = math.cos(heading_rad), math.sin(heading_rad)
    half_length, half_width = length_m / 2, width_m / 2
    corners = [(half_length, half_width), (half_length, -half_width)]
    corners += [(-half_length, -half_width), (-half_length, half_width)]
    x = np.array([x_m + a * cos - b * sin for a, b in corners])
    y = np.array([y_m + a * sin + b * cos for a, b in corners])
    cv2.polylines(
        image, [pixels.to_pixels(x, y)], isClosed=True, color=colour, thickness=thickness_px
    )


def strip_chart(
    width_px: int,
    height_px: int,
    traces: list[tuple[str, np.ndarray, tuple[float, float], Colour]],
    *,
    window: int,
) -> np.ndarray:
    """A dark panel with one line per trace over the last ``window`` samples, newest at the right.

    :param width_px: the panel's width.
    :param height_px: its height.
    :param traces: ``(label, values, (low, high), colour)``: each trace is scaled to its own range,
        its label and latest value printed at the top left.
    :param window: how many samples span the panel's width.
    :return: an ``height_px x width_px x 3`` uint8 RGB panel.
    """
    panel = np.full((height_px, width_px, 3), 25, dtype=np.uint8)
    margin = 4
    for k, (label, values, (low, high), colour) in enumerate(traces):
        recent = np.asarray(values[-window:], dtype=np.float64)
        if len(recent) == 0:
            continue
        columns = width_px - 1 - (len(recent) - 1 - np.arange(len(recent))) * (width_px / window)
        level = (np.clip(recent, low, high) - low) / max(high - low, 1e-9)
        rows = margin + (1.0 - level) * (height_px - 2 * margin)
        points = np.round(np.stack([columns, rows], axis=-1)).astype(np.int32)
        cv2.polylines(panel, [points], isClosed=False, color=colour, thickness=1)
        text = f"{label} {recent[-1]:+.1f}"
        cv2.putText(
            panel, text, (6 + 170 * k, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA
        )
    return panel
