"""The all-roads interface (issue 30): yield-or-go decisions, the road's columns of the observation,
the road's reward terms, and cards that name their interface."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from planning.rl.encoding import FEATURES, ROAD_FEATURES, VEHICLES, encode, road_features
from planning.rl.executor import ACTIONS, ROAD_ACTIONS, PolicyExecutor
from planning.rl.interface import INTERFACES, interface_of
from planning.rl.reward import arrival_reward, decision_reward, road_speed_range_mps
from planning.rules import RulesConfig, first_conflict_gap_m
from sims.groundtruth import VehicleState
from tests.helpers import car, highway_scene


def crossing(x_m: float, y_m: float, speed_mps: float = 10.0) -> VehicleState:
    """A car driving across the ego's road, towards +y."""
    return VehicleState(
        vehicle_id=7, x_m=x_m, y_m=y_m, heading_rad=math.pi / 2, speed_mps=speed_mps,
        length_m=5.0, width_m=2.0,
    )  # fmt: skip


# The ego at x = 0 in lane 1 (y = 4 m) at 10 m/s; a car 20 m ahead and 20 m to the right of the lane,
# crossing at 10 m/s, reaches the ego's path when the ego does, 2 s from now. Sampled every 0.25 s,
# they are first closer than 3.5 m at t = 2 (at 1.75 s they are 2.5 m apart on each axis, 3.54 m):
# a conflict 20 m along the lane, a bumper gap of 20 - 5 = 15 m.
CROSSING_SCENE = highway_scene(ego_speed_mps=10.0, vehicles=(crossing(20.0, 4.0 - 20.0),))


def test_the_gap_to_a_crossing_conflict_is_computed_by_hand():
    lane = CROSSING_SCENE.lane(1)
    assert first_conflict_gap_m(CROSSING_SCENE, lane, RulesConfig()) == pytest.approx(15.0)
    # a car of our own road, driving our way, is never a conflict
    same_way = highway_scene(ego_speed_mps=10.0, vehicles=(car(3, 1, 20.0, 5.0),))
    assert first_conflict_gap_m(same_way, same_way.lane(1), RulesConfig()) is None


def test_road_actions_are_each_highway_action_yielding_then_going():
    assert len(ROAD_ACTIONS) == 2 * len(ACTIONS)
    for k, action in enumerate(ACTIONS):
        yields, goes = ROAD_ACTIONS[2 * k], ROAD_ACTIONS[2 * k + 1]
        assert (yields.lane_change, yields.speed_change, yields.yields) == (
            action.lane_change, action.speed_change, True,
        )  # fmt: skip
        assert (goes.lane_change, goes.speed_change, goes.yields) == (
            action.lane_change, action.speed_change, False,
        )  # fmt: skip
    assert len({action.label for action in ROAD_ACTIONS}) == len(ROAD_ACTIONS)
    assert all(action.yields for action in ACTIONS)  # the highway policies yield as the rules do


def test_a_go_decision_drives_through_crossing_traffic_and_a_yield_decision_brakes_for_it():
    executor = PolicyExecutor(safety_layer=False)
    keep_yield, keep_go = ROAD_ACTIONS[8], ROAD_ACTIONS[9]  # keep/same/yield, keep/same/go
    executor.decide(keep_yield, CROSSING_SCENE)
    yielding = executor.plan(CROSSING_SCENE).target_speed_mps
    executor.decide(keep_go, CROSSING_SCENE)
    going = executor.plan(CROSSING_SCENE).target_speed_mps
    assert yielding < CROSSING_SCENE.ego.speed_mps < going


def test_the_road_interface_adds_the_road_columns_to_the_ego_row_only():
    scene = highway_scene(vehicles=(car(1, 1, 30.0, 20.0), car(2, 2, -15.0, 25.0)))
    highway = encode(scene, cruise_mps=25.0, changing_direction=0)
    road = road_features(scene, RulesConfig())
    assert road == pytest.approx((1.0, 0.0, 30.0 / 30.0))  # no conflict, straight, 30 m/s limit
    both = encode(scene, cruise_mps=25.0, changing_direction=0, road=road)
    assert highway.shape == (1 + VEHICLES, FEATURES)
    assert both.shape == (1 + VEHICLES, FEATURES + ROAD_FEATURES)
    np.testing.assert_array_equal(both[:, :FEATURES], highway)
    np.testing.assert_allclose(both[0, FEATURES:], road)
    assert not both[1:, FEATURES:].any()
    interface = interface_of("road")
    executor = PolicyExecutor(safety_layer=False)
    assert interface.observe(scene, executor).shape == interface.observation_shape
    crossing_road = road_features(CROSSING_SCENE, RulesConfig())
    assert crossing_road[0] == pytest.approx(15.0 / 100.0)


def test_an_unknown_interface_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match="valid: highway, road"):
        interface_of("roads")
    assert set(INTERFACES) == {"highway", "road"}


def test_the_road_reward_maps_speed_over_the_roads_range_and_pays_for_arriving_early():
    assert road_speed_range_mps((7.0, 9.0), 10.0) == (7.0, 9.0)  # intersection-v0's own range
    assert road_speed_range_mps(None, 20.0) == (10.0, 20.0)  # roundabout-v0 has none
    assert decision_reward(8.0, 0.0, 0.0, 0.0, speed_range_mps=(7.0, 9.0)) == pytest.approx(0.5)
    assert decision_reward(25.0, 0.0, 0.0, 0.0) == pytest.approx(0.5)  # highway-v0's [20, 30]
    assert arrival_reward(4.0) == pytest.approx(4.0)  # 4 decisions of full progress left
    assert arrival_reward(-0.5) == 0.0


def test_a_card_names_its_interface_and_lateral_acceleration_and_old_cards_mean_the_highway(
    tmp_path,
):
    from planning.rl.checkpoint import read_card
    from sims.strict import ConfigError

    card = {"algo": "dqn", "extractor": "mlp", "scenario": "x", "controller": "mpc",
            "env_steps": 1, "seed": 0}  # fmt: skip
    policy = tmp_path / "policy.zip"
    policy.with_suffix(".json").write_text(json.dumps(card))
    old = read_card(policy)
    assert old.interface == "highway"
    assert old.executor_config.rules().comfort_lateral_acceleration_mps2 == 2.5
    policy.with_suffix(".json").write_text(
        json.dumps({**card, "interface": "road", "lateral_acceleration_mps2": 4.0})
    )
    new = read_card(policy)
    assert new.interface == "road"
    assert new.executor_config.rules().comfort_lateral_acceleration_mps2 == 4.0
    policy.with_suffix(".json").write_text(json.dumps({**card, "interface": "roads"}))
    with pytest.raises(ConfigError, match="unknown interface 'roads'"):
        read_card(policy)
    assert replace(new, interface="highway").interface == "highway"
