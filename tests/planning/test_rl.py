"""The RL planner's parts: encoding, executor and safety layer, extractor."""

from __future__ import annotations

import math
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from planning.rl.encoding import DISTANCE_SCALE_M, FEATURES, LATERAL_SCALE_M, VEHICLES, encode
from planning.rl.executor import (
    ACTIONS,
    INITIAL_CRUISE_MPS,
    SPEED_STEP_MPS,
    ExecutorConfig,
    PolicyExecutor,
    SafetyMargins,
)
from planning.rl.extractors import EgoAttentionExtractor
from planning.rl.planner import POLITE_POLICY, SHIPPED_POLICY, RLPlanner
from tests.helpers import CUT_INS, car, ego_at, highway_scene, ring_lane

LEFT_SAME = next(a for a in ACTIONS if a.lane_change == -1 and a.speed_change == 0)
RIGHT_SAME = next(a for a in ACTIONS if a.lane_change == 1 and a.speed_change == 0)
KEEP_FASTER = next(a for a in ACTIONS if a.lane_change == 0 and a.speed_change == 1)


def guarded(**margins) -> PolicyExecutor:
    """An executor with the safety layer on, at these margins (the others at their defaults)."""
    return PolicyExecutor(
        safety_layer=True, executor_config=ExecutorConfig(margins=SafetyMargins(**margins))
    )


def test_encoding_places_vehicles_relative_to_the_ego_nearest_first():
    scene = highway_scene(vehicles=(car(1, 1, 40.0, 20.0), car(2, 0, -10.0, 30.0)))
    observation = encode(scene, cruise_mps=25.0, changing_direction=0)
    assert observation.shape == (1 + VEHICLES, FEATURES)
    # The nearer car (10 m behind, one lane left) comes first.
    np.testing.assert_allclose(
        observation[1, :5], [1, -10 / DISTANCE_SCALE_M, -4 / LATERAL_SCALE_M, 5 / 20, 0], atol=1e-6
    )
    np.testing.assert_allclose(observation[2, :3], [1, 40 / DISTANCE_SCALE_M, 0], atol=1e-6)
    assert observation[3:, 0].sum() == 0  # no more vehicles: presence 0
    assert observation[0, 6] == 0  # lanes on both sides


def test_safety_layer_vetoes_a_change_into_an_occupied_gap_and_counts_it():
    blocked = highway_scene(vehicles=(car(1, 0, 2.0, 25.0),))  # beside us in the left lane
    guarded, unguarded = PolicyExecutor(safety_layer=True), PolicyExecutor(safety_layer=False)
    for executor in (guarded, unguarded):
        executor.decide(LEFT_SAME, blocked)
    assert guarded.overrides == 1 and guarded.changing_direction == 0
    assert unguarded.overrides == 0 and unguarded.changing_direction == -1
    assert unguarded.plan(blocked).target_lane.index == 0


@pytest.mark.parametrize(
    ("x_m", "vetoed"), [(10.0, True), (-3.0, True), (40.0, False), (-12.0, False)]
)
def test_safety_layer_vetoes_a_change_while_the_lane_beyond_has_a_vehicle_beside_the_gap(
    x_m, vetoed
):
    # Ego in lane 1 of 4, changing right into the empty lane 2; a vehicle in lane 3 (not perceived
    # as a lane: perception reports the ego's and its neighbours) may move into lane 2 as we do.
    scene = highway_scene(ego_lane=1, lanes=4, vehicles=(car(1, 3, x_m, 25.0),))
    assert scene.lane(3) is None
    executor = PolicyExecutor(safety_layer=True)
    executor.decide(RIGHT_SAME, scene)
    assert executor.overrides == int(vetoed)
    assert executor.changing_direction == (0 if vetoed else 1)
    # a policy trained without the check is executed without it
    unchecked = ExecutorConfig(margins=SafetyMargins(far_lane_check=False))
    executor = PolicyExecutor(safety_layer=True, executor_config=unchecked)
    executor.decide(RIGHT_SAME, scene)
    assert executor.overrides == 0 and executor.changing_direction == 1


def test_far_lane_clearance_sets_how_far_ahead_counts_as_beside():
    # As above, the vehicle in lane 3 is 20 m ahead, centre to centre: a 15 m bumper gap.
    scene = highway_scene(ego_lane=1, lanes=4, vehicles=(car(1, 3, 20.0, 25.0),))
    for clearance_m, vetoed in ((20.0, True), (10.0, False)):
        executor = guarded(far_lane_clearance_m=clearance_m)
        executor.decide(RIGHT_SAME, scene)
        assert executor.overrides == int(vetoed)


def cut_in_scene(side: int, x_m: float, speed_mps: float, heading_rad: float, **ego):
    """A :data:`CUT_INS` case changing right (``side`` 1: lane 1 to 2, the car in lane 3) or its
    mirror image changing left (-1: lane 2 to 1, the car in lane 0)."""
    ego_lane = 1 if side > 0 else 2
    cutting = replace(car(1, ego_lane + 2 * side, x_m, speed_mps), heading_rad=side * heading_rad)
    scene = highway_scene(ego_lane=ego_lane, lanes=4, vehicles=(cutting,))
    return replace(scene, ego=ego_at(ego_lane, **ego)) if ego else scene


def cut_in_checked(check: bool = True) -> PolicyExecutor:
    return guarded(
        min_front_gap_m=0.0,
        min_rear_gap_m=0.0,
        max_imposed_braking_mps2=math.inf,
        far_lane_clearance_m=10.0,
        cut_in_check=check,
    )


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("x_m", "speed_mps", "heading_rad", "vetoed"), CUT_INS)
def test_cut_in_check_vetoes_a_change_while_the_lane_beyond_moves_into_it_ahead(
    x_m, speed_mps, heading_rad, vetoed, side
):
    scene = cut_in_scene(side, x_m, speed_mps, heading_rad)
    change = RIGHT_SAME if side > 0 else LEFT_SAME
    executor = cut_in_checked()
    executor.decide(change, scene)
    assert executor.overrides == int(vetoed)
    unchecked = cut_in_checked(check=False)
    unchecked.decide(change, scene)
    assert unchecked.overrides == 0


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("x_m", "speed_mps", "heading_rad", "vetoed"), CUT_INS)
def test_cut_in_check_aborts_a_change_before_the_ego_crosses_the_line(
    x_m, speed_mps, heading_rad, vetoed, side
):
    ego_lane = 1 if side > 0 else 2
    for check in (True, False):
        executor = cut_in_checked(check)
        executor.decide(
            RIGHT_SAME if side > 0 else LEFT_SAME, highway_scene(ego_lane=ego_lane, lanes=4)
        )
        assert executor.changing_direction == side
        # still in its lane, half a lane from the line
        halfway = cut_in_scene(side, x_m, speed_mps, heading_rad, y_offset_m=1.5 * side)
        aborted = check and vetoed
        assert executor.plan(halfway).target_lane.index == ego_lane + (0 if aborted else side)
        assert executor.overrides == int(aborted)


def test_a_vetoed_change_waits_for_its_gap_until_the_next_decision():
    blocked = highway_scene(vehicles=(car(1, 0, 2.0, 25.0),))  # beside us in the left lane
    clear = highway_scene()
    for wait in (False, True):
        executor = guarded(wait_for_gap=wait)
        executor.decide(LEFT_SAME, blocked)
        assert executor.plan(blocked).target_lane.index == 1  # still vetoed
        assert executor.plan(clear).target_lane.index == (0 if wait else 1)  # the gap opened
        assert executor.overrides == 1
    # The next decision ends the wait: it asked for something else.
    executor = guarded(wait_for_gap=True)
    executor.decide(LEFT_SAME, blocked)
    executor.decide(KEEP_FASTER, blocked)
    assert executor.plan(clear).target_lane.index == 1


@pytest.mark.parametrize(
    ("policy", "executor_config"),
    [
        (
            SHIPPED_POLICY,
            ExecutorConfig(
                "idm_plus",
                0.6,
                SafetyMargins(
                    0.0,
                    0.0,
                    math.inf,
                    far_lane_clearance_m=10.0,
                    wait_for_gap=True,
                    cut_in_check=True,
                ),
            ),
        ),
        (POLITE_POLICY, ExecutorConfig("idm_plus", 1.0, SafetyMargins())),
    ],
)
def test_the_shipped_policies_are_executed_as_their_cards_say(policy, executor_config):
    assert RLPlanner(policy).executor.executor_config == executor_config


def test_safety_layer_asks_for_the_gaps_of_its_margins():
    # A car 7 m ahead (bumper to bumper: 12 m centre to centre) in the left lane, at our speed.
    scene = highway_scene(vehicles=(car(1, 0, 12.0, 25.0),))
    for front_gap_m, vetoed in ((10.0, True), (5.0, False)):
        executor = guarded(min_front_gap_m=front_gap_m)
        executor.decide(LEFT_SAME, scene)
        assert executor.overrides == int(vetoed)
    rules = ExecutorConfig(margins=SafetyMargins(4.0, 3.0, 6.0)).rules()
    assert rules.min_front_gap_m == 4.0 and rules.min_rear_gap_m == 3.0
    assert rules.max_imposed_braking_mps2 == 6.0


def test_safe_change_is_carried_out_and_speed_steps_are_bounded():
    executor = PolicyExecutor(safety_layer=True)
    executor.decide(LEFT_SAME, highway_scene())
    assert executor.changing_direction == -1 and executor.overrides == 0
    for _ in range(10):
        executor.decide(KEEP_FASTER, highway_scene())
    assert executor.cruise_mps == 30.0 > INITIAL_CRUISE_MPS + SPEED_STEP_MPS


def test_attention_extractor_ignores_vehicle_order_and_absent_rows():
    space = gym.spaces.Box(-np.inf, np.inf, (1 + VEHICLES, FEATURES), np.float32)
    extractor = EgoAttentionExtractor(space).eval()
    observations = torch.randn(3, 1 + VEHICLES, FEATURES)
    observations[:, :, 0] = 1.0
    observations[:, 6:, 0] = 0.0  # five vehicles present
    shuffled = observations.clone()
    order = torch.randperm(VEHICLES) + 1
    shuffled[:, 1:] = observations[:, order]
    torch.testing.assert_close(extractor(shuffled), extractor(observations))
    noisy = observations.clone()
    noisy[:, 6:, 1:] = torch.randn_like(noisy[:, 6:, 1:])  # absent rows carry garbage
    torch.testing.assert_close(extractor(noisy), extractor(observations))


def test_safety_layer_never_changes_into_a_lane_with_oncoming_traffic_ahead():
    oncoming = replace(car(1, 0, 150.0, 20.0), heading_rad=math.pi)
    behind = replace(car(1, 0, -80.0, 20.0), heading_rad=math.pi)  # has passed: no conflict
    for vehicles, vetoed in (((oncoming,), True), ((behind,), False), ((), False)):
        executor = PolicyExecutor(safety_layer=True)
        executor.decide(LEFT_SAME, highway_scene(vehicles=vehicles))
        assert (executor.overrides, executor.changing_direction) == ((1, 0) if vetoed else (0, -1))
    unguarded = PolicyExecutor(safety_layer=False)
    unguarded.decide(LEFT_SAME, highway_scene(vehicles=(oncoming,)))
    assert unguarded.changing_direction == -1


def _two_way(ego_lane: int):
    """Two lanes, the left one (0) carrying oncoming traffic by the map, none of it in sight."""
    scene = highway_scene(ego_lane=ego_lane, lanes=2)
    return replace(scene, lanes=(replace(scene.lanes[0], carries_oncoming=True), scene.lanes[1]))


def _decided(action, scene, *, safety_layer: bool = True) -> PolicyExecutor:
    executor = PolicyExecutor(safety_layer=safety_layer)
    executor.decide(action, scene)
    return executor


def test_safety_layer_keeps_out_of_and_leaves_a_lane_oncoming_traffic_drives_down():
    """two-way-v0's overtaking lane, known from the map (``carries_oncoming``) before any oncoming
    car is in sight: the layer vetoes a change into it and, from it, heads back right."""
    executor = _decided(LEFT_SAME, _two_way(1))
    assert (executor.overrides, executor.changing_direction) == (1, 0)
    assert _decided(LEFT_SAME, _two_way(1), safety_layer=False).changing_direction == -1
    executor = _decided(KEEP_FASTER, _two_way(0))
    assert (executor.overrides, executor.changing_direction) == (1, 1)
    executor = _decided(RIGHT_SAME, _two_way(0))  # the policy's own choice: no override
    assert (executor.overrides, executor.changing_direction) == (0, 1)
    beside = car(1, 1, 0.0, 25.0)  # a car beside it in the right lane
    executor = _decided(KEEP_FASTER, replace(_two_way(0), vehicles=(beside,)))
    assert executor.changing_direction == 0
    executor.plan(_two_way(0))  # the car gone: it goes at once, not at the next decision
    assert executor.changing_direction == 1


def test_two_way_ground_truth_marks_the_lane_oncoming_traffic_drives_down():
    from sims.env import SimEnv
    from sims.scenario import load_scenario

    for scenario, flagged in (("two-way", {0}), ("highway", set())):
        env = SimEnv(load_scenario(scenario))
        lanes = env.reset(seed=0).truth.lanes
        env.close()
        assert {lane.lane.index for lane in lanes if lane.carries_oncoming} == flagged


def test_a_ring_roads_traffic_ahead_is_not_oncoming():
    """Half-way round a ring of radius 20 m a car of the same lane heads opposite to the ego, yet
    drives with its lane: the oncoming check compares headings with the lane's, not the ego's."""
    from perception.base import SceneState
    from planning.rl.executor import _oncoming

    radius = 20.0
    ring = ring_lane(radius)
    line = ring.centreline
    ego = replace(ego_at(0, speed_mps=8.0), x_m=radius, y_m=0.0, heading_rad=math.pi / 2)
    across = math.pi * radius  # half-way round: at (-20, 0), the lane heading -pi/2
    ahead = replace(car(1, 0, -radius, 8.0), y_m=0.0, heading_rad=-math.pi / 2)
    against = replace(ahead, heading_rad=math.pi / 2)
    assert np.interp(across, line.station_m, line.heading_rad) == pytest.approx(1.5 * math.pi)

    def scene(vehicle):
        return SceneState(time_s=0.0, ego=ego, vehicles=(vehicle,), lanes=(ring,))

    assert not _oncoming(scene(ahead), ring)
    assert _oncoming(scene(against), ring)
