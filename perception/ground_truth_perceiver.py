"""Ground-truth perception: the simulator's own state, limited to a sensing range."""

from __future__ import annotations

import math

from perception.base import Perceiver, SceneState
from sims.env import SimFrame

SENSING_RANGE_M = 200.0  # [m] vehicles farther from the ego are not reported


class GroundTruthPerceiver(Perceiver):
    """Reports the simulator's exact state of every vehicle within :data:`SENSING_RANGE_M`."""

    def _perceive(self, frame: SimFrame) -> SceneState:
        truth = frame.truth
        ego = truth.ego
        nearby = tuple(
            vehicle
            for vehicle in truth.vehicles
            if math.hypot(vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m) <= SENSING_RANGE_M
        )
        return SceneState(time_s=truth.time_s, ego=ego, vehicles=nearby, lanes=truth.lanes)
