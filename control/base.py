"""The control stage: ``Controller.control(ego, plan) -> Command``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from control.bicycle import VehicleLimits
from planning.base import Plan
from sims.groundtruth import EgoState
from sims.timing import StageClock


@dataclass(frozen=True)
class Command:
    """What the controller asks of the vehicle for the next step."""

    acceleration_mps2: float
    steering_rad: float


@dataclass(frozen=True, eq=False)
class PredictedPath:
    """Where a controller expects the ego to drive over its horizon, in world coordinates [m]."""

    x_m: np.ndarray
    y_m: np.ndarray


class Controller(ABC):
    """A control implementation; subclasses fill :meth:`_control`.

    :param dt_s: control step [s].
    :param limits: actuation limits; every command is clipped to them.
    """

    def __init__(self, *, dt_s: float, limits: VehicleLimits | None = None) -> None:
        if not dt_s > 0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        self.dt_s = dt_s
        self.limits = limits or VehicleLimits()
        self.clock = StageClock()
        self.fallbacks = 0

    def reset(self) -> None:
        """Forget everything from the previous episode."""
        self.fallbacks = 0

    @property
    def prediction(self) -> PredictedPath | None:
        """The path the last command was computed for, for videos (None: this controller has none)."""
        return None

    def control(self, ego: EgoState, plan: Plan) -> Command:
        """Compute the command that tracks ``plan`` from state ``ego``.

        A non-finite command from the implementation is replaced by a safe one (wheel held straight,
        full braking) and counted in :attr:`fallbacks`; every command is clipped to :attr:`limits`.
        """
        with self.clock.measure():
            command = self._control(ego, plan)
        if not (math.isfinite(command.acceleration_mps2) and math.isfinite(command.steering_rad)):
            self.fallbacks += 1
            command = self.fallback(ego)
        return Command(
            acceleration_mps2=min(
                max(command.acceleration_mps2, -self.limits.max_braking_mps2),
                self.limits.max_acceleration_mps2,
            ),
            steering_rad=min(
                max(command.steering_rad, -self.limits.max_steering_rad),
                self.limits.max_steering_rad,
            ),
        )

    def fallback(self, ego: EgoState) -> Command:
        """The safe command: wheel straight, full braking, but only down to a standstill."""
        braking = min(self.limits.max_braking_mps2, max(ego.speed_mps, 0.0) / self.dt_s)
        return Command(acceleration_mps2=-braking, steering_rad=0.0)

    @abstractmethod
    def _control(self, ego: EgoState, plan: Plan) -> Command:
        """Implementation hook of :meth:`control`."""
