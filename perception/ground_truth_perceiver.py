"""Ground-truth perception: the simulator's own state, limited to a sensing range, or to what the
camera's window shows (an oracle of the camera perceiver: perfect detection, the camera's reach)."""

from __future__ import annotations

import math

from perception.base import Perceiver, SceneState
from sims.dataset import FrameSpec
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


class CameraWindowOracle(Perceiver):
    """Reports the simulator's exact state of every vehicle whose centre the camera's window shows
    (:meth:`~sims.dataset.FrameSpec.shows`, the rule the datasets' labels follow).

    The window is the shipped network's (:class:`~sims.dataset.FrameSpec`: 128 m by 32 m, aligned
    with the world's axes and centred on the ego). Driving with it measures what the camera's
    reach alone costs, with no detection error: the bound that a perfect network reading those
    frames would meet (issue 31).

    :param frames: the window (the dataset's default, which the shipped network reads).
    """

    def __init__(self, frames: FrameSpec | None = None) -> None:
        super().__init__()
        self.frames = frames or FrameSpec()

    def _perceive(self, frame: SimFrame) -> SceneState:
        truth = frame.truth
        ego = truth.ego
        seen = tuple(
            vehicle
            for vehicle in truth.vehicles
            if self.frames.shows(vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m)
        )
        return SceneState(time_s=truth.time_s, ego=ego, vehicles=seen, lanes=truth.lanes)
