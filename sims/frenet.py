"""Lane-relative (Frenet) coordinates against a sampled centreline: pure functions.

Offsets are positive to the right of the direction of travel, in highway-env's y-down world, so a
positive offset points towards higher lane indices on a highway.
"""

from __future__ import annotations

import numpy as np

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
    px = np.asarray(x_m, dtype=np.float64)[..., None]
    py = np.asarray(y_m, dtype=np.float64)[..., None]
    squared = (px - centreline.x_m) ** 2 + (py - centreline.y_m) ** 2
    nearest = np.argmin(squared, axis=-1)
    dx = px[..., 0] - centreline.x_m[nearest]
    dy = py[..., 0] - centreline.y_m[nearest]
    heading = centreline.heading_rad[nearest]
    along = dx * np.cos(heading) + dy * np.sin(heading)
    across = -dx * np.sin(heading) + dy * np.cos(heading)
    return centreline.station_m[nearest] + along, across


def point_at(centreline: Centreline, station_m: float) -> tuple[float, float, float]:
    """Interpolate ``(x_m, y_m, heading_rad)`` at ``station_m`` (clamped to the sampled range)."""
    stations = centreline.station_m
    return (
        float(np.interp(station_m, stations, centreline.x_m)),
        float(np.interp(station_m, stations, centreline.y_m)),
        float(np.interp(station_m, stations, centreline.heading_rad)),
    )
