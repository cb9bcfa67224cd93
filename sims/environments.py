"""The highway-env environments a scenario may name, as an explicit registry.

Three of highway-env's environments compute rewards that assume its discrete meta-actions and so fail
under ``ContinuousAction``; the small subclasses below give them the continuous reading of the same
reward. Everything else is highway-env's own code.
"""

from __future__ import annotations

from typing import Any

from highway_env import utils
from highway_env.envs import (
    ExitEnv,
    HighwayEnv,
    HighwayEnvFast,
    IntersectionEnv,
    MergeEnv,
    RacetrackEnv,
    RoundaboutEnv,
    TwoWayEnv,
    UTurnEnv,
)
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.vehicle.behavior import (
    AggressiveVehicle,
    DefensiveVehicle,
    IDMVehicle,
    LinearVehicle,
)
from highway_env.vehicle.controller import MDPVehicle

_SPEED_RANGE_MPS = [
    float(MDPVehicle.DEFAULT_TARGET_SPEEDS[0]),
    float(MDPVehicle.DEFAULT_TARGET_SPEEDS[-1]),
]


class _NoDiscreteLaneChange:
    """merge-v0 and roundabout-v0 reward a discrete lane-change action with ``action in [0, 2]``,
    which raises on a continuous action array. A continuous action is never that discrete action."""

    def _rewards(self, action: Any) -> dict[str, float]:
        return super()._rewards(None)  # type: ignore[misc]


class MergeContinuousEnv(_NoDiscreteLaneChange, MergeEnv):
    """merge-v0 under continuous control."""


class RoundaboutContinuousEnv(_NoDiscreteLaneChange, RoundaboutEnv):
    """roundabout-v0 under continuous control."""


class TwoWayContinuousEnv(TwoWayEnv):
    """two-way-v0 under continuous control.

    Its reward reads the discrete speed index and target lane of highway-env's ``MDPVehicle``; here
    the speed index becomes the speed mapped linearly over the same target-speed range [20, 30] m/s,
    and the target lane the current lane.
    """

    def _rewards(self, action: Any) -> dict[str, float]:
        neighbours = self.road.network.all_side_lanes(self.vehicle.lane_index)
        speed = utils.lmap(self.vehicle.speed, _SPEED_RANGE_MPS, [0, 1])
        return {
            "high_speed_reward": float(min(max(speed, 0.0), 1.0)),
            "left_lane_reward": (len(neighbours) - 1 - self.vehicle.lane_index[2])
            / max(len(neighbours) - 1, 1),
        }


ENVIRONMENTS: dict[str, type[AbstractEnv]] = {
    "highway-v0": HighwayEnv,
    "highway-fast-v0": HighwayEnvFast,
    "merge-v0": MergeContinuousEnv,
    "roundabout-v0": RoundaboutContinuousEnv,
    "intersection-v0": IntersectionEnv,
    "exit-v0": ExitEnv,
    "racetrack-v0": RacetrackEnv,
    "two-way-v0": TwoWayContinuousEnv,
    "u-turn-v0": UTurnEnv,
}

STACK_OWNED_KEYS = frozenset(
    {
        "action",
        "observation",
        "duration",
        "simulation_frequency",
        "policy_frequency",
        "offscreen_rendering",
        "manual_control",
        "real_time_rendering",
    }
)
"""Config keys the stack sets itself: the ego is driven by our controller at the simulation rate,
and an episode lasts the scenario's ``duration_s`` (highway-env's own ``duration`` would end
roundabout-v0's at 11 s whatever the scenario asks)."""


_PATCHED_BY_ENVS = ("DISTANCE_WANTED", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN")
_BEHAVIOUR_CLASSES = (IDMVehicle, LinearVehicle, AggressiveVehicle, DefensiveVehicle)
_PRISTINE = {
    (cls, name): cls.__dict__[name]
    for cls in _BEHAVIOUR_CLASSES
    for name in _PATCHED_BY_ENVS
    if name in cls.__dict__
}


def restore_behaviour_defaults() -> None:
    """Undo highway-env's global edits of its traffic models' class constants.

    intersection-v0 sets ``DISTANCE_WANTED``, ``COMFORT_ACC_MAX`` and ``COMFORT_ACC_MIN`` on the
    traffic's class itself, so every later episode in the same process drove differently: results
    depended on which episodes a worker had run before. Every reset restores them first.
    """
    for cls in _BEHAVIOUR_CLASSES:
        for name in _PATCHED_BY_ENVS:
            if (cls, name) in _PRISTINE:
                setattr(cls, name, _PRISTINE[(cls, name)])
            elif name in cls.__dict__:
                delattr(cls, name)
