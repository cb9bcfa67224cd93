"""A frame's semantic layout and its vehicles' boxes, redrawn from the simulator's state alone.

The layout is what the conditional GAN turns into a frame, and the boxes are what the detector
learns to find. Both come from a ``scene`` block of :mod:`sims.dataset` (the ego and the nearby
vehicles in world coordinates) and the road's lane count, never from the rendered pixels, so a
layout can be drawn for any state, rendered or not.

Lane markings follow highway-env's own drawing rules to the pixel (``LaneGraphics`` and
``WorldSurface.pos2pix``): stripes 3 m long every 4.33 m of road, starting at the road's origin,
placed by truncating world offsets times the scale; the outer edges are continuous lines. Vehicles
are the rotated rectangles of their length and width, centred where highway-env blits them.
"""

from __future__ import annotations

import math

import numpy as np

from sims.dataset import LANE_WIDTH_M, FrameSpec

LAYOUT_CHANNELS = ("marking", "vehicle", "ego")  # one binary image each
STRIPE_SPACING_M = 4.33  # [m] highway-env's LaneGraphics.STRIPE_SPACING
STRIPE_LENGTH_M = 3.0  # [m] highway-env's LaneGraphics.STRIPE_LENGTH
ROAD_LENGTH_M = 10_000.0  # [m] highway-v0's straight lanes run from 0 to here
STRAIGHT_HEADING_RAD = 2 * math.pi / 180  # highway-env draws smaller headings unrotated
MIN_BOX_SIDE_PX = 2.0  # a box clipped by the frame's edge to less than this is dropped


def window_origin_m(scene: np.ndarray, spec: FrameSpec) -> tuple[float, float]:
    """The world position of the frame's top-left corner: the ego (row 0) minus half the window."""
    return (
        float(scene[0, 1]) - spec.width_px / 2 / spec.scaling_px_per_m,
        float(scene[0, 2]) - spec.height_px / 2 / spec.scaling_px_per_m,
    )


def _pix(length_m: float, spec: FrameSpec) -> int:
    """highway-env's ``WorldSurface.pix``: metres to pixels, truncated towards zero."""
    return int(length_m * spec.scaling_px_per_m)


def draw_markings(lanes: int, origin_m: tuple[float, float], spec: FrameSpec) -> np.ndarray:
    """The lane markings of a straight road of ``lanes`` lanes, as highway-env draws them.

    :return: ``(H, W)`` uint8, 1 on markings.
    """
    image = np.zeros((spec.height_px, spec.width_px), dtype=np.uint8)
    origin_x, origin_y = origin_m
    first = math.floor(int(origin_x) / STRIPE_SPACING_M) - 8  # a few stripes behind the window
    count = math.ceil(spec.width_px / spec.scaling_px_per_m / STRIPE_SPACING_M) + 16
    starts = np.clip((first + np.arange(count)) * STRIPE_SPACING_M, 0, ROAD_LENGTH_M)
    ends = np.clip(starts + STRIPE_LENGTH_M, 0, ROAD_LENGTH_M)
    for boundary in range(lanes + 1):
        row = _pix(boundary * LANE_WIDTH_M - LANE_WIDTH_M / 2 - origin_y, spec)
        if not 0 <= row < spec.height_px:
            continue
        if boundary in (0, lanes):  # the road's edges: one continuous line
            spans = [
                (
                    max(origin_x - 1.0, 0.0),
                    min(origin_x + 2 * spec.half_length_m + 1, ROAD_LENGTH_M),
                )
            ]
        else:
            spans = [
                (s, e) for s, e in zip(starts, ends, strict=True) if e - s > STRIPE_LENGTH_M / 2
            ]
        for start_m, end_m in spans:
            left = max(_pix(start_m - origin_x, spec), 0)
            right = min(_pix(end_m - origin_x, spec), spec.width_px - 1)
            if left <= right:
                image[row, left : right + 1] = 1
    return image


def _box_mask(row: np.ndarray, origin_m: tuple[float, float], spec: FrameSpec) -> np.ndarray:
    """The pixels whose centres lie inside one vehicle's rectangle, ``(H, W)`` bool."""
    _, x_m, y_m, heading_rad, length_m, width_m = row
    centre_u = _pix(x_m - origin_m[0], spec)  # where highway-env blits the vehicle's centre
    centre_v = _pix(y_m - origin_m[1], spec)
    heading = heading_rad if abs(heading_rad) > STRAIGHT_HEADING_RAD else 0.0
    u = np.arange(spec.width_px) + 0.5 - centre_u
    v = np.arange(spec.height_px)[:, None] + 0.5 - centre_v
    along = u * math.cos(heading) + v * math.sin(heading)
    across = -u * math.sin(heading) + v * math.cos(heading)
    half_length = _pix(length_m, spec) / 2
    half_width = _pix(width_m, spec) / 2
    return (np.abs(along) < half_length) & (np.abs(across) < half_width)


def draw_layout(scene: np.ndarray, lanes: int, spec: FrameSpec) -> np.ndarray:
    """The semantic layout of one frame.

    :param scene: ``(rows, 6)``, a frame's block of the dataset's ``scene`` (ego first).
    :param lanes: the road's lane count.
    :param spec: the rendered window.
    :return: ``(len(LAYOUT_CHANNELS), H, W)`` uint8 of 0 and 1: markings, other vehicles, the ego.
    """
    origin = window_origin_m(scene, spec)
    layout = np.zeros((len(LAYOUT_CHANNELS), spec.height_px, spec.width_px), dtype=np.uint8)
    layout[0] = draw_markings(lanes, origin, spec)
    for index, row in enumerate(scene):
        if row[0] > 0.5:
            layout[2 if index == 0 else 1][_box_mask(row, origin, spec)] = 1
    return layout


def vehicle_boxes(scene: np.ndarray, spec: FrameSpec) -> np.ndarray:
    """Axis-aligned pixel boxes of every vehicle in view, the ego included.

    :param scene: ``(rows, 6)``, a frame's block of the dataset's ``scene``.
    :param spec: the rendered window.
    :return: ``(n, 4)`` float32 boxes ``x0, y0, x1, y1`` [px], clipped to the frame; boxes with
        less than ``MIN_BOX_SIDE_PX`` left in view are dropped.
    """
    origin = window_origin_m(scene, spec)
    boxes = []
    for row in scene:
        if row[0] < 0.5:
            continue
        _, x_m, y_m, heading_rad, length_m, width_m = row
        heading = heading_rad if abs(heading_rad) > STRAIGHT_HEADING_RAD else 0.0
        half_u = (
            abs(math.cos(heading)) * _pix(length_m, spec)
            + abs(math.sin(heading)) * _pix(width_m, spec)
        ) / 2
        half_v = (
            abs(math.sin(heading)) * _pix(length_m, spec)
            + abs(math.cos(heading)) * _pix(width_m, spec)
        ) / 2
        centre_u = _pix(x_m - origin[0], spec)
        centre_v = _pix(y_m - origin[1], spec)
        x0, x1 = max(centre_u - half_u, 0.0), min(centre_u + half_u, float(spec.width_px))
        y0, y1 = max(centre_v - half_v, 0.0), min(centre_v + half_v, float(spec.height_px))
        if x1 - x0 >= MIN_BOX_SIDE_PX and y1 - y0 >= MIN_BOX_SIDE_PX:
            boxes.append((x0, y0, x1, y1))
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
