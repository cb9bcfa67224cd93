"""highway-env's own controller (``ControlledVehicle``), driven through our plan's reference.

highway-env executes its meta-actions with cascaded proportional controllers: lateral position ->
lateral speed -> heading -> yaw rate -> steering, and speed -> acceleration, with time constants of
0.6 s (speed, lateral) and 0.2 s (heading). This is the same control law with highway-env's own
constants, applied to the plan's centreline instead of a highway-env lane object, so both
controllers can be compared on the same reference.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from control.base import Command, Controller
from control.bicycle import VehicleLimits
from control.reference import LaneChangeReference
from planning.base import Plan
from sims.batched.physics import TAU_PURSUIT_S, speed_control_mps2, steering_control_rad
from sims.frenet import to_frenet
from sims.groundtruth import EgoState


class BuiltinController(Controller):
    """highway-env's ``ControlledVehicle.steering_control`` and ``speed_control`` on our reference.

    Like the MPC, it follows the eased lane-change reference of :class:`LaneChangeReference`, so both
    are judged against the same path.
    """

    def __init__(self, *, dt_s: float, limits: VehicleLimits | None = None) -> None:
        super().__init__(dt_s=dt_s, limits=limits)
        self.reference = LaneChangeReference()
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.reference.reset()
        self._time_s = 0.0

    def _control(self, ego: EgoState, plan: Plan) -> Command:
        line = plan.centreline
        station, offset = (float(v) for v in to_frenet(line, np.array(ego.x_m), np.array(ego.y_m)))
        future_heading = float(
            np.interp(station + ego.speed_mps * TAU_PURSUIT_S, line.station_m, line.heading_rad)
        )
        self.reference.update(plan.target_lane, offset, self._time_s)
        error = offset - float(self.reference.offset_m(self._time_s))
        self._time_s += self.dt_s
        # highway-env's control law, the batched engine's own function with a batch of one;
        # highway-env's lateral coordinate is ours (positive to the right in its y-down world).
        steering = steering_control_rad(
            _scalar(error),
            _scalar(ego.speed_mps),
            _scalar(ego.heading_rad),
            _scalar(future_heading),
        )
        acceleration = speed_control_mps2(_scalar(plan.target_speed_mps), _scalar(ego.speed_mps))
        return Command(acceleration_mps2=float(acceleration), steering_rad=float(steering))


def _scalar(value: float) -> Tensor:
    return torch.tensor(value, dtype=torch.float64)
