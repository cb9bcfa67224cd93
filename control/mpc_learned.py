"""``mpc-learned``: the MPC on the dynamics learned from the car's own driving.

It is :class:`control.mpc.MpcController` (same horizon, references, comfort bounds, QP and
fallback) with the learned model of :mod:`control.dynamics_model` in place of the nominal one:

1. the QP is linearised from the learned model: its wheelbase sets the yaw-rate entries (the only
   entries of the model's Jacobians the residual changes) and the slip bounds that keep the yaw
   rate and the lateral acceleration within comfort;
2. the QP plans the inputs the car *applies*; an observer runs the learned actuator lags on the
   commands actually sent, so the controller knows what the car applies now, and the command that
   makes the car apply the planned value this step is found by inverting the lag (and removing the
   learned steering bias). With no lag and no bias this is exactly ``mpc``.
"""

from __future__ import annotations

import math

import numpy as np

from control.base import Command
from control.bicycle import VehicleLimits, slip_angle
from control.dynamics_model import DynamicsParameters, dynamics_files, load_dynamics, shipped_plants
from control.mpc import MpcConfig, MpcController
from planning.base import Plan
from sims.groundtruth import EgoState
from sims.plants import DEFAULT_PLANT, first_order_lag, lag_factor
from sims.strict import ConfigError


def learned_model(plant: str) -> DynamicsParameters:
    """The dynamics model learned on ``plant`` and shipped in ``control/weights/dynamics/``.

    :raises ConfigError: naming the plant and those with a model, when none was learned on it.
    """
    weights, _ = dynamics_files(plant)
    if not weights.is_file():
        raise ConfigError(
            f"controller 'mpc-learned' has no dynamics model learned on plant '{plant}'; "
            f"learned on: {', '.join(shipped_plants()) or 'none'} "
            "(drive dataset --dynamics, then drive train-dynamics)"
        )
    return load_dynamics(weights)


class LearnedMpcController(MpcController):
    """The MPC on a learned model (see the module docstring).

    :param dt_s: control step [s].
    :param plant: the car driven; its shipped model is loaded unless ``model`` is given.
    :param limits: actuation limits.
    :param config: the MPC's horizon, comfort bounds and weights (those of ``mpc`` by default).
    :param model: the dynamics to use instead of the shipped one.
    """

    def __init__(
        self,
        *,
        dt_s: float,
        plant: str = DEFAULT_PLANT,
        limits: VehicleLimits | None = None,
        config: MpcConfig | None = None,
        model: DynamicsParameters | None = None,
    ) -> None:
        self.model = model or learned_model(plant)
        self.plant = plant
        # Fraction of the gap to its command each actuator closes in one control step.
        self._factors = np.array(
            [
                lag_factor(self.model.acceleration_lag_s, dt_s),
                lag_factor(self.model.steering_lag_s, dt_s),
            ]
        )
        self._applied = np.zeros(2)  # (acceleration [m/s2], steering [rad]) the car applies now
        super().__init__(
            dt_s=dt_s, limits=limits, config=config, wheelbase_m=self.model.wheelbase_m
        )

    def reset(self) -> None:
        super().reset()
        self._applied = np.zeros(2)  # the car starts with its actuators at rest
        self._previous = self._applied_inputs()

    def control(self, ego: EgoState, plan: Plan) -> Command:
        """The base class's command; then the observer follows the actuators to what it sent."""
        command = super().control(ego, plan)
        self._applied = first_order_lag(
            self._applied,
            np.array([command.acceleration_mps2, command.steering_rad]),
            self._factors,
        )
        self._previous = self._applied_inputs()
        return command

    def _command(self, acceleration_mps2: float, slip_rad: float) -> Command:
        """The command that makes the car apply ``acceleration_mps2`` and slip ``slip_rad`` after
        this step: the wanted wheel angle less the bias, then the actuator lag inverted."""
        wheel_rad = math.atan(2.0 * math.tan(slip_rad)) - self.model.steering_bias_rad
        wanted = np.array([acceleration_mps2, wheel_rad])
        command = self._applied + (wanted - self._applied) / self._factors
        return Command(acceleration_mps2=float(command[0]), steering_rad=float(command[1]))

    def _applied_inputs(self) -> np.ndarray:
        """The QP's inputs (acceleration, slip angle) the car applies now, by the observer."""
        wheel_rad = float(self._applied[1]) + self.model.steering_bias_rad
        return np.array([float(self._applied[0]), slip_angle(wheel_rad)])
