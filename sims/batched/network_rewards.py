"""highway-env's rewards of its roads on the road engine, one function per road, each reading the
task (:class:`sims.batched.network_task.BatchedRoads`) after its policy step's simulation, as
highway-env's ``_reward`` reads the environment (with the suite's continuous-control reading of
merge-v0's and roundabout-v0's rewards, :mod:`sims.environments`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from sims.batched import intersection, physics
from sims.batched.racetrack import racetrack_reward
from sims.batched.task import highway_reward_of

if TYPE_CHECKING:  # for the annotations only: network_task imports this module
    from sims.batched.network_task import BatchedRoads

DEFAULT_SPEEDS_MPS = (20.0, 25.0, 30.0)  # MDPVehicle.DEFAULT_TARGET_SPEEDS


def _speed_index(speed_mps: Tensor, speeds: tuple[float, ...]) -> Tensor:
    """``MDPVehicle.speed_to_index``: the index of the target speed closest to ``speed_mps``."""
    fraction = (speed_mps - speeds[0]) / (speeds[-1] - speeds[0])
    return torch.round(fraction * (len(speeds) - 1)).clamp(0, len(speeds) - 1)


Reward = Callable[["BatchedRoads", Tensor], Tensor]
"""A road's reward of the policy step just simulated, from the task and the actions given."""


def highway_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``HighwayEnv._reward`` on a road network (:func:`~sims.batched.task.highway_reward_of`):
    the right-lane term is the lane's index over the road's last."""
    state, road, config = task.state, task.road, task.env_config
    speed = state.speed_mps[:, 0]
    lane = task.ego_lane()
    last_lane = (road.road_lanes[lane] - 1).clamp(min=1).to(speed.dtype)
    return highway_reward_of(
        state.crashed[:, 0],
        road.lane_id[lane].to(speed.dtype) / last_lane,
        speed * torch.cos(state.heading_rad[:, 0]),
        task.on_road() > 0,
        collision_reward=config["collision_reward"],
        right_lane_reward=config["right_lane_reward"],
        high_speed_reward=config["high_speed_reward"],
        speed_range_mps=tuple(config["reward_speed_range"]),
        normalize=bool(config["normalize_reward"]),
    )


def merge_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``MergeEnv._reward``: collision, right lane, speed and the altruistic penalty for slow
    vehicles on the ramp's last stretch, normalised. No lane-change term: the suite's merge-v0
    (:class:`sims.environments.MergeContinuousEnv`) never counts one."""
    state, road, config = task.state, task.road, task.env_config
    ego_speed = state.speed_mps[:, 0]
    ramp = task.road.index(("b", "c", 2))
    on_ramp = (state.lane == ramp) & state.controlled & state.present
    target = state.target_speed_mps
    slowness = torch.where(on_ramp, (target - state.speed_mps) / physics.not_zero(target), 0.0)
    reward = (
        config["collision_reward"] * state.crashed[:, 0].to(ego_speed.dtype)
        + config["right_lane_reward"] * road.lane_id[state.lane[:, 0]].to(ego_speed.dtype)
        + config["high_speed_reward"] * physics.lmap(ego_speed, config["reward_speed_range"])
        + config["merging_speed_reward"] * slowness.sum(1)
    )
    worst = config["collision_reward"] + config["merging_speed_reward"]
    best = config["high_speed_reward"] + config["right_lane_reward"]
    return physics.lmap(reward, (worst, best))


def roundabout_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``RoundaboutEnv._reward``: collision and speed index, normalised, times on-road (no
    lane-change term, as in the suite's roundabout-v0)."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    if task.config.ego_control == "meta":
        index = _speed_index(state.target_speed_mps[:, 0], task.config.meta_target_speeds_mps)
    else:
        index = _speed_index(speed, DEFAULT_SPEEDS_MPS)
    reward = config["collision_reward"] * state.crashed[:, 0].to(speed.dtype) + config[
        "high_speed_reward"
    ] * index / (len(DEFAULT_SPEEDS_MPS) - 1)
    if config["normalize_reward"]:
        reward = physics.lmap(reward, (config["collision_reward"], config["high_speed_reward"]))
    return reward * task.on_road()


def exit_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``ExitEnv._reward``: collision, reaching the exit, speed and lane terms, normalised and clipped."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    lane = task.ego_lane()
    reward = (
        config["collision_reward"] * state.crashed[:, 0].to(speed.dtype)
        + config["goal_reward"] * task.exit_reached().to(speed.dtype)
        + config["high_speed_reward"]
        * physics.lmap(speed, config["reward_speed_range"]).clamp(0, 1)
        + config["right_lane_reward"] * task.road.lane_id[lane].to(speed.dtype)
    )
    if config["normalize_reward"]:
        reward = physics.lmap(reward, (config["collision_reward"], config["goal_reward"])).clamp(
            0, 1
        )
    return reward


def intersection_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``IntersectionEnv._agent_reward`` for the ego: collision and speed terms, or the arrival
    reward once arrived, times on-road (normalised when the configuration asks)."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    reward = config["collision_reward"] * state.crashed[:, 0].to(speed.dtype) + config[
        "high_speed_reward"
    ] * physics.lmap(speed, config["reward_speed_range"]).clamp(0, 1)
    arrived = intersection.has_arrived(state, task.road)
    reward = torch.where(arrived, float(config["arrived_reward"]), reward) * task.on_road()
    if config["normalize_reward"]:
        reward = physics.lmap(reward, (config["collision_reward"], config["arrived_reward"]))
    return reward


REWARDS: dict[str, Reward] = {
    "highway-v0": highway_reward,
    "merge-v0": merge_reward,
    "roundabout-v0": roundabout_reward,
    "exit-v0": exit_reward,
    "intersection-v0": intersection_reward,
    "racetrack-v0": racetrack_reward,
}
