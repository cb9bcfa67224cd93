"""Model-predictive control: a linear time-varying MPC on highway-env's bicycle, solved by OSQP.

Every control step the controller:
1. measures the ego against the plan's centreline (lateral error, heading error, station);
2. builds a reference over the horizon: a speed ramp towards the planned speed, and, after the plan
   switches lanes, a lateral offset that eases from where the ego is to the new centreline along a
   quintic (minimum-jerk) profile, so a lane change is a smooth transition;
3. solves the QP of :mod:`control.mpc_qp` with acceleration, slip, jerk and slip-rate limits, and the
   yaw-rate and lateral-acceleration comfort bounds of nuPlan turned into speed-dependent slip limits;
4. applies the first input. If OSQP fails, the base class's safe command (wheel straight, braking)
   takes over and the event is counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from control.base import Command, Controller, PredictedPath
from control.bicycle import VEHICLE_LENGTH_M, VehicleLimits, slip_angle
from control.mpc_qp import LtvMpcQp, QpBounds, QpWeights
from control.reference import LANE_CHANGE_DURATION_S, LaneChangeReference, ramp_reference_mps
from planning.base import Plan
from sims.frenet import to_frenet
from sims.groundtruth import Centreline, EgoState


@dataclass(frozen=True)
class MpcConfig:
    """Horizon, comfort bounds and weights of :class:`MpcController`."""

    horizon_steps: int = 20
    min_step_s: float = 0.1  # [s] MPC step: the control step, or this if longer (20 x 0.1 s = 2 s)
    lane_change_duration_s: float = LANE_CHANGE_DURATION_S  # [s] quintic transition after a switch
    min_lane_change_offset_m: float = (
        0.5  # [m] smaller offsets at a lane switch are tracked directly
    )
    plan_horizon_s: float = 1.0  # [s] a plan's target speed is wanted this far ahead (RulesConfig)
    comfort_acceleration_mps2: float = 1.5  # [m/s2] the speed reference rises no faster
    max_acceleration_mps2: float = 2.4  # [m/s2] nuPlan's comfort bound
    max_braking_mps2: float = 6.0  # [m/s2]
    max_jerk_mps3: float = 12.0  # [m/s3] hard limit; the jerk cost keeps it far lower normally
    max_steering_rate_radps: float = 0.6  # [rad/s]
    max_yaw_rate_radps: float = 0.95  # [rad/s] nuPlan's comfort bound
    max_lateral_acceleration_mps2: float = 4.5  # [m/s2] under nuPlan's 4.89
    weights: QpWeights = field(default_factory=QpWeights)


class MpcController(Controller):
    """LTV-MPC tracking the plan's centreline and speed. See the module docstring."""

    def __init__(
        self,
        *,
        dt_s: float,
        limits: VehicleLimits | None = None,
        config: MpcConfig | None = None,
        wheelbase_m: float = VEHICLE_LENGTH_M,
    ) -> None:
        """:param wheelbase_m: the model's wheelbase [m] (highway-env's: its vehicle length)."""
        super().__init__(dt_s=dt_s, limits=limits)
        self.config = config or MpcConfig()
        self.step_s = max(dt_s, self.config.min_step_s)
        self.qp = LtvMpcQp(
            horizon_steps=self.config.horizon_steps,
            step_s=self.step_s,
            length_m=wheelbase_m,
            weights=self.config.weights,
        )
        self.reference = LaneChangeReference(
            duration_s=self.config.lane_change_duration_s,
            min_offset_m=self.config.min_lane_change_offset_m,
        )
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._time_s = 0.0
        self._previous = np.zeros(2)  # (acceleration, slip) applied last
        self._prediction: PredictedPath | None = None
        self.reference.reset()

    def _control(self, ego: EgoState, plan: Plan) -> Command:
        n, h = self.config.horizon_steps, self.step_s
        line = plan.centreline
        station, offset = (float(v) for v in to_frenet(line, np.array(ego.x_m), np.array(ego.y_m)))
        path_heading = float(np.interp(station, line.station_m, line.heading_rad))
        heading_error = math.remainder(ego.heading_rad - path_heading, 2 * math.pi)
        self.reference.update(plan.target_lane, offset, self._time_s)

        speeds = self._speed_reference(ego.speed_mps, plan.target_speed_mps)
        stations = station + np.cumsum(speeds) * h
        midpoints = 0.5 * (line.station_m[1:] + line.station_m[:-1])
        curvature = np.diff(line.heading_rad) / np.diff(line.station_m)
        curvatures = np.interp(stations, midpoints, curvature)
        times = self._time_s + h * np.arange(1, n + 1)
        reference = np.stack([self.reference.offset_m(times), np.zeros(n), speeds], axis=1)
        inputs = self.qp.solve(
            initial_state=np.array([offset, heading_error, ego.speed_mps]),
            speeds=np.maximum(speeds, 1.0),
            curvatures=curvatures,
            reference=reference,
            previous_input=self._previous,
            bounds=self._bounds(speeds),
        )
        self._time_s += self.dt_s
        self._prediction = self._predicted_path(line, station)
        if inputs is None:
            self._previous = np.array(
                [self.fallback(ego).acceleration_mps2, 0.0]
            )  # what is applied
            return Command(acceleration_mps2=math.nan, steering_rad=math.nan)
        acceleration, slip = float(inputs[0, 0]), float(inputs[0, 1])
        # The QP steps h seconds per input; the vehicle is commanded every dt_s: scale the change.
        fraction = self.dt_s / h
        acceleration = self._previous[0] + fraction * (acceleration - self._previous[0])
        slip = self._previous[1] + fraction * (slip - self._previous[1])
        # Never command reversing: brake at most to a standstill within this step.
        acceleration = max(acceleration, -max(ego.speed_mps, 0.0) / self.dt_s)
        self._previous = np.array([acceleration, slip])
        return self._command(acceleration, slip)

    def _command(self, acceleration_mps2: float, slip_rad: float) -> Command:
        """The command that makes the car apply ``acceleration_mps2`` and slip angle ``slip_rad``
        this step: on highway-env's bicycle, exactly those, through ``delta = atan(2 tan beta)``.
        """
        return Command(
            acceleration_mps2=acceleration_mps2, steering_rad=math.atan(2.0 * math.tan(slip_rad))
        )

    @property
    def prediction(self) -> PredictedPath | None:
        return self._prediction

    def _predicted_path(self, line: Centreline, station_m: float) -> PredictedPath | None:
        """The QP's predicted states (lateral offset, heading error, speed) put back on the map."""
        states = self.qp.predicted_states
        if states is None:
            return None
        stations = station_m + np.concatenate([[0.0], np.cumsum(states[:-1, 2]) * self.step_s])
        x = np.interp(stations, line.station_m, line.x_m)
        y = np.interp(stations, line.station_m, line.y_m)
        heading = np.interp(stations, line.station_m, line.heading_rad)
        offsets = states[:, 0]
        return PredictedPath(x_m=x - offsets * np.sin(heading), y_m=y + offsets * np.cos(heading))

    def _speed_reference(self, speed_mps: float, target_mps: float) -> np.ndarray:
        """Speed over the horizon: reach the planned speed at the rate the plan implies.

        A planner's target speed is the speed it wants ``plan_horizon_s`` from now, so the gap over
        that horizon is the acceleration it asks for; the ramp follows it, bounded by comfort (up)
        and full braking (down), and stops at the target.
        """
        config = self.config
        return ramp_reference_mps(
            speed_mps,
            target_mps,
            step_s=self.step_s,
            steps=config.horizon_steps,
            horizon_s=config.plan_horizon_s,
            max_acceleration_mps2=config.comfort_acceleration_mps2,
            max_braking_mps2=config.max_braking_mps2,
        )

    def _bounds(self, speeds: np.ndarray) -> QpBounds:
        """Actuation bounds; yaw-rate and lateral-acceleration comfort become slip bounds per step."""
        config, n = self.config, self.config.horizon_steps
        half_length = self.qp.length_m / 2
        moving = np.maximum(speeds, 1.0)
        # yaw rate = v sin(beta) / (L/2); lateral acceleration ~ v * yaw rate
        by_yaw = np.arcsin(np.minimum(1.0, config.max_yaw_rate_radps * half_length / moving))
        by_lateral = np.arcsin(
            np.minimum(1.0, config.max_lateral_acceleration_mps2 * half_length / moving**2)
        )
        by_steering = slip_angle(self.limits.max_steering_rad)
        return QpBounds(
            min_acceleration_mps2=np.full(n, -config.max_braking_mps2),
            max_acceleration_mps2=np.full(n, config.max_acceleration_mps2),
            max_slip_rad=np.minimum(np.minimum(by_yaw, by_lateral), by_steering),
            max_acceleration_step_mps2=config.max_jerk_mps3 * self.step_s,
            # d(beta)/d(delta) <= 1/2, so this bounds the steering rate too
            max_slip_step_rad=0.5 * config.max_steering_rate_radps * self.step_s,
        )
