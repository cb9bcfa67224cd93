"""The planning reward of one decision, written once for the highway-env path and the batched engine.

Reward of one decision:

* speed, highway-env's progress term: mean speed over the period mapped from [20, 30] m/s to [0, 1]
  (the road interface maps it from its road's range, :func:`road_speed_range_mps`);
* collision: ``-COLLISION_PENALTY`` and the episode ends (the road interface:
  :func:`road_collision_penalty`, four times the episode's whole possible progress, and the road
  interface's whole reward is scaled by :func:`road_reward_scale`, so that it counts in episodes);
* a requested lane change costs ``LANE_CHANGE_COST`` (whether or not it was carried out);
* discomfort: ``COMFORT_WEIGHT`` times the mean squared commanded acceleration over (3 m/s2)^2.

With the road interface (:mod:`planning.rl.interface`), reaching the end of the route (an episode
that ends without a collision before its time limit: intersection-v0's arrival, merge-v0's passing
the ramp) earns :func:`arrival_reward`, the progress the remaining time could have earned, so that
arriving early never pays less than dawdling to the time limit.

:func:`decision_reward` takes Python floats (one episode, :mod:`drive.training.planning_env`) or
torch tensors of any shared shape (``B`` episodes, :mod:`planning.rl.batched`).
"""

from __future__ import annotations

from typing import TypeVar

import torch

from sims.arrays import at_least
from sims.constants import REWARD_SPEED_RANGE_MPS

DECISION_PERIOD_S = 1.0  # [s] one policy decision per second, as highway-env's policy frequency
COLLISION_PENALTY = 5.0
LANE_CHANGE_COST = 0.05
COMFORT_WEIGHT = 0.05
COMFORT_ACCELERATION_MPS2 = 3.0  # [m/s2]
ROAD_COLLISION_EPISODES = 4.0  # a crash on the roads costs this many episodes' whole progress

Value = TypeVar("Value", float, torch.Tensor)


def decision_reward(
    mean_speed_mps: Value,
    lane_change: Value,
    mean_squared_acceleration_mps4: Value,
    crashed: Value,
    *,
    speed_range_mps: tuple[float, float] | tuple[Value, Value] = REWARD_SPEED_RANGE_MPS,
    collision_penalty: float = COLLISION_PENALTY,
) -> Value:
    """The reward of one decision; see the module docstring.

    :param mean_speed_mps: the ego's mean speed over the decision period [m/s].
    :param lane_change: the lane change asked for: -1 left, 0 none, +1 right.
    :param mean_squared_acceleration_mps4: mean squared commanded acceleration [m2/s4].
    :param crashed: 1 (or true) where the ego crashed during the period.
    :param speed_range_mps: the speeds mapped to a progress of 0 and 1 [m/s].
    :param collision_penalty: what a crash costs (:func:`road_collision_penalty` on the roads).
    :return: the reward, a float or a tensor as the arguments.
    """
    low, high = speed_range_mps
    progress = (mean_speed_mps - low) / (high - low)
    if isinstance(progress, torch.Tensor):
        reward = progress.clamp(0.0, 1.0)
        crash = crashed.to(reward.dtype) if isinstance(crashed, torch.Tensor) else float(crashed)
    else:
        reward = min(max(progress, 0.0), 1.0)
        crash = float(crashed)
    reward = reward - LANE_CHANGE_COST * abs(lane_change)
    reward = reward - COMFORT_WEIGHT * (
        mean_squared_acceleration_mps4 / COMFORT_ACCELERATION_MPS2**2
    )
    return reward - collision_penalty * crash


def arrival_reward(remaining_s: Value) -> Value:
    """The reward for reaching the route's end with ``remaining_s`` [s] of the episode left: a full
    progress term for each decision period left (see the module docstring)."""
    return at_least(remaining_s, 0.0) / DECISION_PERIOD_S


def road_collision_penalty(duration_s: float) -> float:
    """The road interface's collision penalty, before :func:`road_reward_scale`:
    :data:`ROAD_COLLISION_EPISODES` times all the progress an episode of ``duration_s`` [s] could
    earn (one per decision period), and at least :data:`COLLISION_PENALTY`. With the arrival reward,
    going through intersection-v0's crossing traffic paid at a penalty of 5 (44% of the episodes
    crashed, on the batched engine), and a run at one episode's progress still went everywhere."""
    return max(COLLISION_PENALTY, ROAD_COLLISION_EPISODES * duration_s / DECISION_PERIOD_S)


def road_reward_scale(duration_s: float) -> float:
    """The road interface counts its reward in episodes: one episode's whole progress is 1, a crash
    about -:data:`ROAD_COLLISION_EPISODES`. Unscaled, intersection-v0's crash cost 52, and DQN's
    Huber loss, whose gradient is bounded, had not learnt it after 20,000 decisions: its values
    stayed near +2 where always going earns -18."""
    return DECISION_PERIOD_S / max(duration_s, DECISION_PERIOD_S)


def road_speed_range_mps(
    configured: tuple[float, float] | None, speed_limit_mps: Value
) -> tuple[float, float] | tuple[Value, Value]:
    """The speeds a road's progress term maps to 0 and 1 [m/s]: highway-env's ``reward_speed_range``
    of that environment where it has one, else half the ego lane's speed limit to the limit.

    :param configured: the environment's ``reward_speed_range``, or None.
    :param speed_limit_mps: the speed limit of the ego's lane at the start [m/s].
    """
    if configured is not None:
        return (float(configured[0]), float(configured[1]))
    return (speed_limit_mps / 2, speed_limit_mps)
