"""Frenet projection on straight and circular centrelines."""

from __future__ import annotations

import numpy as np
import pytest

from sims.frenet import point_at, to_frenet
from sims.groundtruth import Centreline
from tests.helpers import straight_lane


def test_straight_lane_projection():
    lane = straight_lane(1)  # y = 4
    station, offset = to_frenet(lane.centreline, np.array([10.3, -7.0]), np.array([5.0, 2.5]))
    np.testing.assert_allclose(station, [10.3, -7.0])
    np.testing.assert_allclose(offset, [1.0, -1.5])  # positive: to the right (y down)


def test_circle_projection():
    radius = 50.0
    angles = np.arange(0, np.pi, 2.0 / radius)
    line = Centreline(
        x_m=radius * np.sin(angles),
        y_m=radius * (1 - np.cos(angles)),  # turning right, centre (0, 50)
        heading_rad=angles,
        station_m=radius * angles,
    )
    point_angle = 0.7
    r = radius - 1.5  # 1.5 m towards the centre, i.e. to the right of travel
    station, offset = to_frenet(
        line, np.array(r * np.sin(point_angle)), np.array(radius - r * np.cos(point_angle))
    )
    assert float(station) == pytest.approx(radius * point_angle, abs=0.05)
    assert float(offset) == pytest.approx(1.5, abs=0.02)


def test_point_at_interpolates():
    x, y, heading = point_at(straight_lane(0).centreline, 13.0)
    assert (x, y, heading) == pytest.approx((13.0, 0.0, 0.0))
