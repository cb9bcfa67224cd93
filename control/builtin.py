"""highway-env's own controller (``ControlledVehicle``), driven through our plan's reference.

highway-env executes its meta-actions with cascaded proportional controllers: lateral position ->
lateral speed -> heading -> yaw rate -> steering, and speed -> acceleration, with time constants of
0.6 s (speed, lateral) and 0.2 s (heading). This is the same control law with highway-env's own
constants, applied to the plan's centreline instead of a highway-env lane object, so both
controllers can be compared on the same reference.
"""

from __future__ import annotations

import math

import numpy as np
from highway_env.vehicle.controller import ControlledVehicle

from control.base import Command, Controller
from control.bicycle import VehicleLimits
from control.reference import LaneChangeReference
from planning.base import Plan
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
        c = ControlledVehicle
        speed = ego.speed_mps if abs(ego.speed_mps) > 1e-2 else 1e-2
        line = plan.centreline
        station, offset = (float(v) for v in to_frenet(line, np.array(ego.x_m), np.array(ego.y_m)))
        future_heading = float(
            np.interp(station + ego.speed_mps * c.TAU_PURSUIT, line.station_m, line.heading_rad)
        )
        self.reference.update(plan.target_lane, offset, self._time_s)
        error = offset - float(self.reference.offset_m(self._time_s))
        self._time_s += self.dt_s
        # highway-env's lateral coordinate is ours (positive to the right in its y-down world).
        lateral_speed_command = -c.KP_LATERAL * error
        heading_command = math.asin(float(np.clip(lateral_speed_command / speed, -1, 1)))
        heading_reference = future_heading + float(np.clip(heading_command, -np.pi / 4, np.pi / 4))
        heading_rate_command = c.KP_HEADING * math.remainder(
            heading_reference - ego.heading_rad, 2 * math.pi
        )
        slip = math.asin(float(np.clip(c.LENGTH / 2 / speed * heading_rate_command, -1, 1)))
        steering = float(
            np.clip(math.atan(2 * math.tan(slip)), -c.MAX_STEERING_ANGLE, c.MAX_STEERING_ANGLE)
        )
        acceleration = c.KP_A * (plan.target_speed_mps - ego.speed_mps)
        return Command(acceleration_mps2=acceleration, steering_rad=steering)
