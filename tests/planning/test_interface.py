"""The all-roads interface (issue 30): yield-or-go decisions, the road's columns of the observation,
the road's reward terms, and cards that name their interface."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from planning.conflict import first_conflict_gap_m
from planning.rl.encoding import FEATURES, ROAD_FEATURES, VEHICLES, encode, road_features
from planning.rl.executor import ACTIONS, ROAD_ACTIONS, PolicyExecutor
from planning.rl.interface import INTERFACES, interface_of
from planning.rl.reward import (
    arrival_reward,
    decision_reward,
    road_collision_penalty,
    road_reward_scale,
    road_speed_range_mps,
)
from planning.rules import RulesConfig
from sims.groundtruth import VehicleState
from tests.helpers import car, highway_scene


def crossing(x_m: float, y_m: float, speed_mps: float = 10.0) -> VehicleState:
    """A car driving across the ego's road, towards +y."""
    return VehicleState(
        vehicle_id=7, x_m=x_m, y_m=y_m, heading_rad=math.pi / 2, speed_mps=speed_mps,
        length_m=5.0, width_m=2.0,
    )  # fmt: skip


# The ego at x = 0 in lane 1 (y = 4 m) at 10 m/s, going on at 1.5 m/s2 (its lane allows 30 m/s):
# its centre is at x at T(x), where 10 T + 0.75 T^2 = x. A car 5 m long at x = 20 m crossing
# towards +y at 10 m/s comes within 3.5 m of the ego's path at points x = 17..23 m (every 0.5 m;
# closer than 3.5 m to x = 20): its zone, at a gap of 17 - 5 = 12 m. At the point x = 20 its body
# (centre +- 2.5 m) is within 3.5 m while its centre's y = -16 + 10 t is in (-2, 10), from 1.4 to
# 2.6 s; the ego's centre is there at T(20) = 1.77 s and its tail leaves at T(25) = 2.16 s:
# they meet, a conflict.
CROSSING_SCENE = highway_scene(ego_speed_mps=10.0, vehicles=(crossing(20.0, 4.0 - 20.0),))


def test_the_gap_to_a_crossing_conflict_is_computed_by_hand():
    lane = CROSSING_SCENE.lane(1)
    assert first_conflict_gap_m(
        CROSSING_SCENE, lane, RulesConfig().conflict_rules
    ) == pytest.approx(12.0)
    # a car of our own road, driving our way, is never a conflict
    same_way = highway_scene(ego_speed_mps=10.0, vehicles=(car(3, 1, 20.0, 5.0),))
    assert first_conflict_gap_m(same_way, same_way.lane(1), RulesConfig().conflict_rules) is None


def test_a_crossing_car_conflicts_by_its_time_window_not_by_meeting_the_ego():
    lane = CROSSING_SCENE.lane(1)

    def gap(y_m: float, buffer_s: float = 0.5) -> float | None:
        scene = highway_scene(ego_speed_mps=10.0, vehicles=(crossing(20.0, y_m),))
        return first_conflict_gap_m(
            scene, lane, RulesConfig(conflict_time_buffer_s=buffer_s).conflict_rules
        )

    # 16.5 m further, the car's body reaches the point x = 23 at 3.22 s: the ego's tail has left it
    # (its centre at 28 m) at 2.38 s, more than the buffer before
    assert gap(-32.5) is None
    assert gap(-32.5, buffer_s=1.0) == pytest.approx(12.0)
    # 12 m nearer, it is within 3.5 m of the point x = 17 from 0.4 to 1.2 s (on the 0.1 s grid):
    # gone before the ego arrives there (1.52 s), yet within the buffer: still a conflict, where
    # positions at the same instant would miss it
    assert gap(-4.0) == pytest.approx(12.0)
    assert gap(-2.0, buffer_s=0.0) is None
    # its body, not its centre: a standing car pointing at the path, its centre 4 m from it and its
    # nose 1.5 m, blocks the points x = 17..23; as a point it would not
    for length_m, expected in ((5.0, 12.0), (0.0, None)):
        standing = VehicleState(
            vehicle_id=7, x_m=20.0, y_m=0.0, heading_rad=math.pi / 2, speed_mps=0.0,
            length_m=length_m, width_m=2.0,
        )  # fmt: skip
        scene = highway_scene(ego_speed_mps=10.0, vehicles=(standing,))
        assert first_conflict_gap_m(scene, lane, RulesConfig().conflict_rules) == (
            pytest.approx(expected) if expected else None
        )
    # a zone the ego's centre is already in is ignored: it is committed there
    inside = highway_scene(ego_speed_mps=10.0, vehicles=(crossing(1.0, 0.0),))
    assert first_conflict_gap_m(inside, lane, RulesConfig().conflict_rules) is None


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


def test_the_safety_layer_holds_a_go_decision_back_at_a_conflict_once_per_decision():
    guarded = PolicyExecutor(safety_layer=True)
    keep_yield, keep_go = ROAD_ACTIONS[8], ROAD_ACTIONS[9]
    guarded.decide(keep_yield, CROSSING_SCENE)
    yielding = guarded.plan(CROSSING_SCENE).target_speed_mps
    assert guarded.overrides == 0  # yielding as told is no override
    guarded.decide(keep_go, CROSSING_SCENE)
    held_back = [guarded.plan(CROSSING_SCENE).target_speed_mps for _ in range(3)]
    assert held_back == [yielding] * 3
    assert guarded.overrides == 1  # one decision held back, whatever the control steps
    guarded.decide(keep_go, CROSSING_SCENE)
    guarded.plan(CROSSING_SCENE)
    assert guarded.overrides == 2
    # with nothing crossing, a decision to go is no override
    clear = highway_scene(ego_speed_mps=10.0)
    guarded.decide(keep_go, clear)
    guarded.plan(clear)
    assert guarded.overrides == 2


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
    assert crossing_road[0] == pytest.approx(12.0 / 100.0)


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


def test_on_the_roads_a_crash_costs_four_times_the_progress_an_episode_could_earn():
    # intersection-v0's 13 s: 13 decisions of full progress, four times; at least the highway's 5
    assert road_collision_penalty(13.0) == 52.0 and road_collision_penalty(1.0) == 5.0
    crash = decision_reward(9.0, 0.0, 0.0, 1.0, speed_range_mps=(7.0, 9.0), collision_penalty=52.0)
    assert crash == pytest.approx(1.0 - 52.0)
    # so that an episode ending in a crash earns less than waiting (a return of 0), whatever
    # progress came before it and whatever arriving early would have paid
    assert all(last * 1.0 + crash + arrival_reward(13.0 - last) < 0 for last in range(13))
    # counted in episodes: a whole episode's progress is 1, that crash about -4
    assert road_reward_scale(13.0) * crash == pytest.approx(-51.0 / 13.0)
    assert road_reward_scale(0.5) == 1.0


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
