"""A baseline tracker: proportional speed control and pure pursuit on the target lane's centreline.

Pure pursuit (Coulter 1992) steers the centre of highway-env's bicycle onto the arc through a point a
speed-dependent distance ahead on the target centreline; a lane change thus becomes a smooth lateral
transition whose length grows with speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from control.base import Command, Controller
from control.bicycle import VehicleLimits, steering_for_curvature
from planning.base import Plan
from sims.frenet import point_at, to_frenet
from sims.groundtruth import EgoState


@dataclass(frozen=True)
class TrackerConfig:
    """Gains of :class:`TrackerController`."""

    speed_gain_per_s: float = 1.0  # [1/s] acceleration = gain x speed error
    lookahead_time_s: float = 1.8  # [s] pure-pursuit look-ahead distance = speed x this ...
    min_lookahead_m: float = 8.0  # [m] ... but never shorter than this
    max_jerk_mps3: float = 15.0  # [m/s3] acceleration changes no faster than this ...
    max_brake_onset_jerk_mps3: float = (
        40.0  # [m/s3] ... except when braking harder, to react in time
    )
    max_steering_rate_radps: float = 0.6  # [rad/s] steering changes no faster than this


class TrackerController(Controller):
    """Proportional speed control and pure-pursuit steering. See the module docstring."""

    def __init__(
        self,
        *,
        dt_s: float,
        limits: VehicleLimits | None = None,
        config: TrackerConfig | None = None,
    ) -> None:
        super().__init__(dt_s=dt_s, limits=limits)
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        super().reset()
        self._last = Command(acceleration_mps2=0.0, steering_rad=0.0)

    def _control(self, ego: EgoState, plan: Plan) -> Command:
        wanted = self._track(ego, plan)
        braking_harder = wanted.acceleration_mps2 < min(self._last.acceleration_mps2, 0.0)
        jerk = (
            self.config.max_brake_onset_jerk_mps3 if braking_harder else self.config.max_jerk_mps3
        )
        self._last = Command(
            acceleration_mps2=_step_towards(
                self._last.acceleration_mps2, wanted.acceleration_mps2, jerk * self.dt_s
            ),
            steering_rad=_step_towards(
                self._last.steering_rad,
                wanted.steering_rad,
                self.config.max_steering_rate_radps * self.dt_s,
            ),
        )
        return self._last

    def _track(self, ego: EgoState, plan: Plan) -> Command:
        """The unconstrained pursuit command."""
        acceleration = self.config.speed_gain_per_s * (plan.target_speed_mps - ego.speed_mps)
        lookahead_m = max(
            self.config.min_lookahead_m, self.config.lookahead_time_s * abs(ego.speed_mps)
        )
        station, _ = to_frenet(plan.centreline, np.array(ego.x_m), np.array(ego.y_m))
        target_x, target_y, _ = point_at(plan.centreline, float(station) + lookahead_m)
        bearing = math.atan2(target_y - ego.y_m, target_x - ego.x_m) - ego.heading_rad
        distance = max(math.hypot(target_x - ego.x_m, target_y - ego.y_m), 1e-3)
        curvature = 2.0 * math.sin(bearing) / distance
        return Command(
            acceleration_mps2=acceleration, steering_rad=steering_for_curvature(curvature)
        )


def _step_towards(current: float, wanted: float, max_step: float) -> float:
    """Move from ``current`` towards ``wanted`` by at most ``max_step``."""
    return current + min(max(wanted - current, -max_step), max_step)
