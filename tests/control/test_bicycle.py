"""Our bicycle maths against highway-env's own Vehicle.step."""

from __future__ import annotations

import math

import numpy as np
import pytest
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.kinematics import Vehicle

from control.bicycle import VEHICLE_LENGTH_M, slip_angle, steering_for_curvature


def test_length_matches_highway_env():
    assert VEHICLE_LENGTH_M == Vehicle.LENGTH


@pytest.mark.parametrize("curvature", [-0.05, -0.004, 0.0, 0.01, 0.08])
def test_steering_for_curvature_drives_that_circle_in_highway_env(curvature):
    road = Road(RoadNetwork.straight_road_network(1), np_random=np.random.default_rng(0))
    vehicle = Vehicle(road, [0.0, 0.0], heading=0.0, speed=10.0)
    steering = steering_for_curvature(curvature)
    vehicle.act({"acceleration": 0.0, "steering": steering})
    dt = 0.01
    heading_before = vehicle.heading
    vehicle.step(dt)
    path_curvature = (vehicle.heading - heading_before) / (vehicle.speed * dt)
    assert path_curvature == pytest.approx(curvature, abs=1e-9)
    assert slip_angle(steering) == pytest.approx(math.atan(0.5 * math.tan(steering)))
