"""The safety layer's stopping check (planning.safety, RSS's safe distance) and how the policy
executor applies it."""

from __future__ import annotations

import math

import pytest

from planning.rl.batched import BatchedPlanning
from planning.rl.executor import ACTIONS, ExecutorConfig, PolicyExecutor, SafetyMargins
from planning.rl.planner import ROAD_ALL_POLICY, RLPlanner
from planning.safety import safe_following_speed_mps, stopping_acceleration_mps2
from tests.helpers import car, highway_scene

pytestmark = pytest.mark.unit

KEEP = next(a for a in ACTIONS if a.lane_change == 0 and a.speed_change == 0)


@pytest.mark.parametrize(
    ("gap_m", "lead_speed_mps", "expected_mps"),
    [
        # v r + v^2 / (2 b) = gap - 2 + v_lead^2 / (2 B), r = 1 s, b = 5, B = 6 m/s2
        (12.0, 0.0, 5 * (-1 + math.sqrt(1 + 2 * 10 / 5))),  # 6.180: 6.18 + 3.82 = 10 m
        (4.0, 12.0, 5 * (-1 + math.sqrt(1 + 2 * (2 + 12) / 5))),  # 2 m of gap + 12 m of lead's stop
        (1.0, 0.0, 0.0),  # inside the stopping gap: stand
    ],
)
def test_the_safe_following_speed_solves_rss_safe_distance(gap_m, lead_speed_mps, expected_mps):
    assert safe_following_speed_mps(gap_m, lead_speed_mps) == pytest.approx(expected_mps)


def test_the_stopping_response_brakes_in_proportion_to_the_excess_then_fully():
    assert stopping_acceleration_mps2(10.0, 10.0) == math.inf
    assert stopping_acceleration_mps2(10.5, 10.0) == pytest.approx(-2.5)
    assert stopping_acceleration_mps2(13.0, 10.0) == pytest.approx(-5.0)


def _executor(*, layer: bool, check: bool) -> PolicyExecutor:
    config = ExecutorConfig(
        "idm_plus", 0.6, SafetyMargins(0.0, 0.0, math.inf, stopping_check=check)
    )
    return PolicyExecutor(safety_layer=layer, executor_config=config)


def test_the_check_brakes_where_idm_plus_at_0_6_s_follows_too_close_to_stop():
    # 20 m (bumper) behind a leader at the ego's 25 m/s: IDM+ at 0.6 s holds the speed, but from
    # 25 m/s the ego cannot stop behind it braking at 6 m/s2: the safe speed is 21.9 m/s.
    scene = highway_scene(vehicles=(car(1, 1, 25.0, 25.0),))
    speeds = {}
    for layer, check in ((True, True), (True, False), (False, True)):
        executor = _executor(layer=layer, check=check)
        executor.decide(KEEP, scene)
        speeds[layer, check] = executor.plan(scene).target_speed_mps
        assert executor.overrides == int(layer and check)  # counted once per decision
        executor.plan(scene)
        assert executor.overrides == int(layer and check)
    braking = (speeds[True, True] - 25.0) / executor.config.speed_horizon_s
    assert braking == pytest.approx(-5.0)  # 5.8 m/s over the safe speed: full braking
    assert speeds[True, False] == speeds[False, True] > speeds[True, True]


def test_the_check_leaves_a_safe_gap_alone():
    scene = highway_scene(vehicles=(car(1, 1, 120.0, 25.0),))  # 115 m at the ego's speed
    with_check, without = _executor(layer=True, check=True), _executor(layer=True, check=False)
    for executor in (with_check, without):
        executor.decide(KEEP, scene)
    assert with_check.plan(scene) == without.plan(scene)
    assert with_check.overrides == 0


def test_road_all_deploys_the_check_added_after_training():
    executor = RLPlanner(ROAD_ALL_POLICY).executor
    assert executor.executor_config.margins.stopping_check


def test_the_batched_engines_layer_refuses_the_check_it_does_not_have():
    config = ExecutorConfig(margins=SafetyMargins(stopping_check=True))
    with pytest.raises(ValueError, match="stopping_check"):
        BatchedPlanning(batch=2, safety_layer=True, executor_config=config)
    BatchedPlanning(batch=2, safety_layer=False, executor_config=config)  # unguarded: nothing to do


def test_the_check_vetoes_a_change_towards_a_standing_car_too_near_to_stop_behind():
    # The right lane ends 30 m ahead at a standing obstacle (merge-v0's): from 19 m/s the ego could
    # stop only from 12.5 m/s; a leader of the right lane at the ego's speed is no reason to veto.
    right = next(a for a in ACTIONS if a.lane_change == 1 and a.speed_change == 0)
    for obstacle, vetoed in ((car(1, 2, 35.0, 0.0), True), (car(1, 2, 35.0, 19.0), False)):
        scene = highway_scene(ego_speed_mps=19.0, vehicles=(obstacle,))
        with_check, without = _executor(layer=True, check=True), _executor(layer=True, check=False)
        for executor in (with_check, without):
            executor.decide(right, scene)
        assert with_check.changing_direction == (0 if vetoed else 1)
        assert with_check.overrides == int(vetoed)
        assert without.changing_direction == 1
