"""Ground-truth perception: the simulator's own state, limited to a sensing range, or to what the
camera's window shows (an oracle of the camera perceiver: perfect detection, the camera's reach)."""

from __future__ import annotations

import math

from perception.base import Perceiver, SceneState
from perception.camera import SHIPPED_WEIGHTS, card_frames
from sims.dataset import FrameSpec
from sims.env import SimFrame

SENSING_RANGE_M = 200.0  # [m] vehicles farther from the ego are not reported


class GroundTruthPerceiver(Perceiver):
    """Reports the simulator's exact state of every vehicle within :data:`SENSING_RANGE_M`."""

    def _perceive(self, frame: SimFrame) -> SceneState:
        truth = frame.truth
        ego = truth.ego
        reported = tuple(
            vehicle
            for vehicle in truth.vehicles
            if self._reports(vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m)
        )
        return SceneState(time_s=truth.time_s, ego=ego, vehicles=reported, lanes=truth.lanes)

    def _reports(self, dx_m: float, dy_m: float) -> bool:
        """Whether a vehicle this far from the ego [m] is reported."""
        return math.hypot(dx_m, dy_m) <= SENSING_RANGE_M


class CameraWindowOracle(GroundTruthPerceiver):
    """Reports the simulator's exact state of every vehicle whose centre the camera's window shows
    (:meth:`~sims.dataset.FrameSpec.shows`, the rule the datasets' labels follow).

    The window is the shipped network's (its card's :class:`~sims.dataset.FrameSpec`, aligned
    with the world's axes and centred on the ego). Driving with it measures what the camera's
    reach alone costs, with no detection error: the bound that a perfect network reading those
    frames would meet (issue 31).

    :param frames: the window (by default the one the shipped network reads).
    """

    def __init__(self, frames: FrameSpec | None = None) -> None:
        super().__init__()
        self.frames = frames or card_frames(SHIPPED_WEIGHTS)

    def _reports(self, dx_m: float, dy_m: float) -> bool:
        return self.frames.shows(dx_m, dy_m)
