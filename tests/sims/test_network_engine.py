"""The batched engine on highway-env's road networks against highway-env itself: the same scene and
actions give the same trajectories and crashes, on every road the engine drives."""

from __future__ import annotations

import math

import pytest
import torch

from sims.batched import network_step, roads
from sims.batched.fidelity import TOLERANCE_M
from sims.batched.network import NetworkConfig, from_highway_env
from sims.batched.network_fidelity import (
    NETWORK_ENVIRONMENTS,
    compare_network_trajectory,
    make_environment,
    reset,
)
from sims.batched.network_task import BatchedRoads
from sims.batched.physics import EgoFollowing

# highway-env's racetrack-v0 cannot make its ego under meta-actions (make_on_lane on a partial).
CASES = [
    (env_id, control)
    for env_id in NETWORK_ENVIRONMENTS
    for control in ("continuous", "meta")
    if (env_id, control) != ("racetrack-v0", "meta")
]


@pytest.mark.parametrize(("env_id", "ego_control"), CASES)
def test_trajectories_match_highway_env(env_id, ego_control):
    comparison = compare_network_trajectory(env_id, seed=0, seconds=4, ego_control=ego_control)
    assert comparison.crash_states_agree
    assert comparison.max_error_m <= TOLERANCE_M
    assert comparison.steps >= 2


def test_trajectories_match_through_a_collision_with_traffic():
    # merge-v0, seed 4, random continuous actions: the ego collides at its second step (found by
    # running seeds 0-4); both simulators must agree on who crashed and where everyone went.
    comparison = compare_network_trajectory("merge-v0", seed=4, seconds=10)
    assert comparison.ego_crashed
    assert comparison.within_tolerance


@pytest.mark.parametrize(("seed", "ego_control"), [(2, "meta"), (1, "continuous")])
def test_intersection_traffic_yields_and_comes_and_goes_as_in_highway_env(seed, ego_control):
    # 10 s of intersection-v0: the regulated junction, vehicles leaving and spawned (copied in).
    comparison = compare_network_trajectory("intersection-v0", seed, 10, ego_control)
    assert comparison.within_tolerance and comparison.steps == 10


def test_a_scene_pads_to_more_rows_without_changing_anything():
    env = make_environment("merge-v0", "continuous")
    reset(env, seed=1)
    road = roads.from_network(env.unwrapped.road.network)
    config = NetworkConfig()
    tight = from_highway_env([env], road)
    padded = from_highway_env([env], road, rows=tight.x_m.shape[1] + 3)
    action = torch.tensor([[0.3, -0.1]], dtype=torch.float64)
    for state in (tight, padded):
        network_step.apply_ego_action(state, road, config, action)
        for _ in range(30):
            network_step.step(state, road, config, *network_step.act(state, road, config))
    count = tight.x_m.shape[1]
    assert torch.equal(tight.x_m, padded.x_m[:, :count])
    assert torch.equal(tight.crashed, padded.crashed[:, :count])
    assert not padded.crashed[:, count:].any()


def test_an_unknown_road_is_refused_by_name():
    with pytest.raises(ValueError, match="parking-v0"):
        make_environment("parking-v0", "continuous")


@pytest.mark.parametrize("env_id", ["merge-v0", "roundabout-v0", "exit-v0"])
def test_a_following_ego_drives_as_highway_envs_lane_keeping_idm_vehicle(env_id):
    """Under ``follow``, the ego is IDM along its route towards the lane and speed it is given: in
    highway-env, an IDMVehicle that never changes lane on its own, with that target speed."""
    from highway_env.vehicle.behavior import IDMVehicle

    env = make_environment(env_id, "meta")
    reset(env, seed=2)
    unwrapped = env.unwrapped
    ego = IDMVehicle.create_from(unwrapped.vehicle)
    ego.enable_lane_change, ego.target_speed, ego.DELTA = False, 12.0, 4.0
    ego.action = {"steering": 0.0, "acceleration": 0.0}
    unwrapped.road.vehicles[0] = unwrapped.vehicle = ego
    road = roads.from_network(unwrapped.road.network)
    config = NetworkConfig(ego_control="follow")
    state = from_highway_env([env], road)
    lane_id = float(road.lane_id[state.target_lane[0, 0]])
    network_step.apply_ego_action(
        state, road, config, torch.tensor([[lane_id, 12.0]], dtype=torch.float64)
    )
    for _ in range(150):
        unwrapped.road.act()
        unwrapped.road.step(config.dt_s)
        network_step.step(state, road, config, *network_step.act(state, road, config))
    items = [*unwrapped.road.vehicles, *unwrapped.road.objects]
    expected = torch.tensor([list(item.position) for item in items], dtype=torch.float64)
    got = torch.stack([state.x_m[0, : len(items)], state.y_m[0, : len(items)]], -1)
    assert float((expected - got).abs().max()) <= TOLERANCE_M
    assert bool(state.crashed[0, 0]) == ego.crashed


def test_a_following_ego_keeps_its_own_time_gap_and_model_and_the_traffic_keeps_highway_envs():
    # merge-v0 (its first lane's limit is 20 m/s): the ego at 15 m/s, 40 m (centre to centre) behind
    # a vehicle at 10 m/s in its lane, cruising at 19 m/s; a third vehicle follows the ego 30 m
    # behind at 15 m/s; no one else.
    env = make_environment("merge-v0", "meta")
    reset(env, seed=0)
    road = roads.from_network(env.unwrapped.road.network)
    got = {}
    for following in (
        EgoFollowing(1.5, "idm"),
        EgoFollowing(0.6, "idm"),
        EgoFollowing(0.6, "idm_plus"),
        EgoFollowing(3.0, "idm_plus"),
    ):
        config = NetworkConfig(ego_control="follow", ego_following=following)
        state = from_highway_env([env], road)
        state.present[0, 3:] = False
        x0, y0 = float(state.x_m[0, 0]), float(state.y_m[0, 0])
        state.x_m[0, :3] = torch.tensor([x0, x0 + 40.0, x0 - 30.0], dtype=torch.float64)
        state.y_m[0, :3], state.heading_rad[0, :3] = y0, 0.0
        state.lane[0, :3] = state.target_lane[0, :3] = state.lane[0, 0]
        state.speed_mps[0, :3] = torch.tensor([15.0, 10.0, 15.0], dtype=torch.float64)
        state.target_speed_mps[0, :3] = torch.tensor([19.0, 10.0, 15.0], dtype=torch.float64)
        state.delta[0, :3] = 4.0
        _, acceleration = network_step.act(state, road, config)
        assert float(road.speed_limit_mps[state.lane[0, 0]]) == 20.0
        got[following] = acceleration[0]

    for following, acceleration in got.items():  # highway-env's IDMVehicle terms, by hand
        star = 10.0 + 15.0 * following.time_gap_s + 15.0 * 5.0 / (2 * math.sqrt(3.0 * 5.0))
        free, interaction = 3.0 * (1 - (15.0 / 19.0) ** 4), 3.0 * (star / 40.0) ** 2
        # IDM+ takes the smaller of the two terms (Schakel et al. 2010) instead of their sum
        ego = (
            free - interaction if following.car_following == "idm" else min(free, 3.0 - interaction)
        )
        assert float(acceleration[0]) == pytest.approx(max(ego, -6.0), rel=1e-6)
    traffic = got[EgoFollowing(1.5, "idm")]
    assert float(got[EgoFollowing(0.6, "idm")][0]) > float(traffic[0])  # a shorter gap brakes less
    for acceleration in got.values():  # the traffic behind keeps its own gap and model
        assert float(acceleration[2]) == float(traffic[2])


def test_a_following_ego_model_is_refused_where_the_ego_does_not_follow():
    with pytest.raises(ValueError, match="ego_following applies to ego_control 'follow'"):
        BatchedRoads("merge-v0", 1, ego_control="meta", ego_following=EgoFollowing(0.6, "idm_plus"))
