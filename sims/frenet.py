"""Lane-relative (Frenet) coordinates against a sampled centreline: pure functions.

Offsets are positive to the right of the direction of travel, in highway-env's y-down world, so a
positive offset points towards higher lane indices on a highway.
"""

from __future__ import annotations

import numpy as np

from sims.arrays import Array, argmin_last, cosine, sine, take_last
from sims.groundtruth import Centreline


def to_frenet(
    centreline: Centreline, x_m: np.ndarray, y_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto a centreline.

    :param centreline: the sampled centreline.
    :param x_m: point x coordinates [m], any shape.
    :param y_m: point y coordinates [m], same shape.
    :return: ``(station_m, offset_m)``: arc length along the centreline and signed lateral offset [m].
    """
    px = np.asarray(x_m, dtype=np.float64)
    py = np.asarray(y_m, dtype=np.float64)
    return project(
        centreline.x_m, centreline.y_m, centreline.heading_rad, centreline.station_m, px, py
    )


def project(
    line_x_m: Array,
    line_y_m: Array,
    line_heading_rad: Array,
    line_station_m: Array,
    x_m: Array,
    y_m: Array,
) -> tuple[Array, Array]:
    """:func:`to_frenet` on the centreline's samples (``(..., K)``) for points ``(...)``: numpy
    arrays for one perceived lane, torch tensors for a batch of the engine's (one lane per point).

    :return: ``(station_m, offset_m)`` [m], shaped as the points.
    """
    squared = (x_m[..., None] - line_x_m) ** 2 + (y_m[..., None] - line_y_m) ** 2
    nearest = argmin_last(squared)
    dx = x_m - take_last(line_x_m, nearest)
    dy = y_m - take_last(line_y_m, nearest)
    heading = take_last(line_heading_rad, nearest)
    along = dx * cosine(heading) + dy * sine(heading)
    across = -dx * sine(heading) + dy * cosine(heading)
    return take_last(line_station_m, nearest) + along, across


def velocity_in_lane(speed_mps: Array, turn_rad: Array) -> tuple[Array, Array]:
    """A vehicle's velocity in a lane's frame: its speed along the lane and towards the lane's right
    (where offsets grow) [m/s].

    :param speed_mps: the vehicles' speeds [m/s].
    :param turn_rad: their headings less the lane's heading where each is [rad].
    """
    return speed_mps * cosine(turn_rad), speed_mps * sine(turn_rad)


def point_at(centreline: Centreline, station_m: float) -> tuple[float, float, float]:
    """Interpolate ``(x_m, y_m, heading_rad)`` at ``station_m`` (clamped to the sampled range)."""
    stations = centreline.station_m
    return (
        float(np.interp(station_m, stations, centreline.x_m)),
        float(np.interp(station_m, stations, centreline.y_m)),
        float(np.interp(station_m, stations, centreline.heading_rad)),
    )


def heading_at(centreline: Centreline, station_m: np.ndarray) -> np.ndarray:
    """The centreline's heading [rad] at each station, interpolated; unwrapped first, so that a
    heading stored across +-pi (a ring road) interpolates through it."""
    return np.interp(station_m, centreline.station_m, np.unwrap(centreline.heading_rad))
