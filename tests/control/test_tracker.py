"""The baseline tracker: limits, rate limits, and lane keeping and changing on real highway-env."""

from __future__ import annotations

import math

import numpy as np
import pytest

from control.base import Command
from control.tracker import TrackerController
from planning.base import Plan
from sims.env import SimEnv
from sims.scenario import Scenario
from tests.helpers import cruise_plan, ego_at


def test_commands_respect_limits_and_rates():
    controller = TrackerController(dt_s=0.1)
    first = controller.control(ego_at(1, speed_mps=30.0), cruise_plan(3, 0.0))
    assert first.acceleration_mps2 == pytest.approx(
        -controller.config.max_brake_onset_jerk_mps3 * 0.1
    )
    assert abs(first.steering_rad) <= controller.config.max_steering_rate_radps * 0.1 + 1e-12
    for _ in range(100):
        command = controller.control(ego_at(1, speed_mps=30.0), cruise_plan(3, 0.0))
    assert command.acceleration_mps2 == -controller.limits.max_braking_mps2


def test_non_finite_commands_fall_back_to_braking_and_are_counted():
    class Broken(TrackerController):
        def _control(self, ego, plan):
            return Command(acceleration_mps2=math.nan, steering_rad=0.1)

    controller = Broken(dt_s=0.1)
    command = controller.control(ego_at(0), cruise_plan(0, 20.0))
    assert command == Command(
        acceleration_mps2=-controller.limits.max_braking_mps2, steering_rad=0.0
    )
    assert controller.fallbacks == 1


def _drive_empty_road(target_lane: int, seconds: float):
    scenario = Scenario(
        id="empty",
        description="empty road",
        env="highway-v0",
        duration_s=seconds,
        env_config={"vehicles_count": 0, "lanes_count": 4},
    )
    sim = SimEnv(scenario)
    frame = sim.reset(seed=0)
    controller = TrackerController(dt_s=sim.dt_s)
    offsets = []
    lane_y = 4.0 * target_lane
    while True:
        lane = next((g for g in frame.truth.lanes if g.lane.index == target_lane), None)
        if lane is None:  # not yet adjacent: aim at the nearest lane towards it
            lane = min(frame.truth.lanes, key=lambda g: abs(g.lane.index - target_lane))
        plan = Plan(
            target_lane=lane.lane,
            target_speed_mps=30.0,
            centreline=lane.centreline,
            decision="cruise",
        )
        command = controller.control(frame.truth.ego, plan)
        step = sim.step(
            acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
        )
        frame = step.frame
        offsets.append(frame.truth.ego.y_m - lane_y)
        if step.terminated or step.truncated:
            return frame.truth.ego, np.array(offsets)


def test_keeps_the_lane_on_an_empty_road():
    ego, offsets = _drive_empty_road(target_lane=3, seconds=10.0)  # seed 0 starts in lane 3
    assert np.max(np.abs(offsets)) < 0.01
    assert ego.speed_mps == pytest.approx(30.0, abs=0.2)


def test_changes_lane_without_overshoot_and_settles():
    ego, offsets = _drive_empty_road(target_lane=2, seconds=10.0)  # from lane 3 to lane 2 (y - 4 m)
    assert offsets[0] > 3.5  # started one lane to the right
    assert np.min(offsets) > -0.25  # the baseline overshoots by under 0.25 m (measured 0.16 m)
    settled = np.nonzero(np.abs(offsets) >= 0.2)[0][-1] + 1  # within 0.2 m for good from here
    assert settled * (1 / 15) < 6.0
    assert abs(offsets[-1]) < 0.05
    assert not ego.crashed
