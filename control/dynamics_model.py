"""The car's dynamics as learned from its own driving: highway-env's bicycle plus a learned residual.

The nominal model (:mod:`control.bicycle`) is highway-env's kinematic bicycle: the command is applied
at once, the wheelbase is the vehicle's length and the wheel is centred. The learned residual is what
a real car adds to it, as four parameters fitted by gradient descent (torch) on logged driving
(``drive dataset --dynamics``, ``drive train-dynamics``):

* a first-order lag on each actuator (time constants ``acceleration_lag_s``, ``steering_lag_s``):
  ``applied[k] = applied[k-1] + alpha (command[k] - applied[k-1])``, ``alpha = 1 - exp(-dt / tau)``;
* a wheelbase scale: the yaw rate is ``v sin(beta) / (scale L / 2)``;
* a steering bias added at the wheel: ``beta = atan(tan(applied steering + bias) / 2)``.

This is grey-box identification: the residual has the structure of the actuators and the geometry,
so six minutes of driving pin it down and the MPC can use it through the same QP (its Jacobians
change only the wheelbase entry) plus an actuator observer. The model is fitted on whole episodes:
the applied actuator values are hidden, so each is the command filtered by the lag from rest.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from sims.constants import VEHICLE_LENGTH_M
from sims.strict import ConfigError

DYNAMICS_DIR = Path(__file__).parent / "weights" / "dynamics"
WEIGHTS_FILE = "best.safetensors"
CARD_FILE = "card.json"
LAG_KERNEL_STEPS = 120  # steps of the lag's impulse response kept when fitting (8 s at 15 Hz)
MIN_LAG_S = 1e-3  # [s] below this a lag is no lag


@dataclass(frozen=True)
class DynamicsParameters:
    """The learned residual of the nominal bicycle (see the module docstring)."""

    acceleration_lag_s: float = 0.0  # [s]
    steering_lag_s: float = 0.0  # [s]
    wheelbase_scale: float = 1.0
    steering_bias_rad: float = 0.0  # [rad]

    def __post_init__(self) -> None:
        values = asdict(self).values()
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"dynamics parameters must be finite, got {asdict(self)}")
        if self.acceleration_lag_s < 0 or self.steering_lag_s < 0:
            raise ValueError("lags must be >= 0 s")
        if not 0.25 <= self.wheelbase_scale <= 4.0:
            raise ValueError(f"wheelbase_scale must be in [0.25, 4], got {self.wheelbase_scale}")

    @property
    def wheelbase_m(self) -> float:
        """The learned wheelbase [m]."""
        return VEHICLE_LENGTH_M * self.wheelbase_scale


class LearnedBicycle(torch.nn.Module):
    """The model in torch, its residual's parameters free: what ``drive train-dynamics`` fits.

    :param initial: where the fit starts (lags must be > 0 s for their gradient to flow).
    """

    def __init__(self, initial: DynamicsParameters | None = None) -> None:
        super().__init__()
        start = initial or DynamicsParameters(acceleration_lag_s=0.1, steering_lag_s=0.1)
        self.log_acceleration_lag_s = torch.nn.Parameter(
            torch.tensor(math.log(max(start.acceleration_lag_s, MIN_LAG_S)), dtype=torch.float64)
        )
        self.log_steering_lag_s = torch.nn.Parameter(
            torch.tensor(math.log(max(start.steering_lag_s, MIN_LAG_S)), dtype=torch.float64)
        )
        self.log_wheelbase_scale = torch.nn.Parameter(
            torch.tensor(math.log(start.wheelbase_scale), dtype=torch.float64)
        )
        self.steering_bias_rad = torch.nn.Parameter(
            torch.tensor(start.steering_bias_rad, dtype=torch.float64)
        )

    def parameters_now(self) -> DynamicsParameters:
        """The current parameters as plain numbers."""
        return DynamicsParameters(
            acceleration_lag_s=float(self.log_acceleration_lag_s.detach().exp()),
            steering_lag_s=float(self.log_steering_lag_s.detach().exp()),
            wheelbase_scale=float(self.log_wheelbase_scale.detach().exp()),
            steering_bias_rad=float(self.steering_bias_rad.detach()),
        )

    def forward(self, commands: Tensor, speeds_mps: Tensor, dt_s: float) -> Tensor:
        """Predict each step's motion from the commands of whole episodes, started at rest.

        :param commands: ``(episodes, steps, 2)``: acceleration [m/s2], steering [rad] commanded.
        :param speeds_mps: ``(episodes, steps)``: speed at the start of each step [m/s].
        :param dt_s: the step [s].
        :return: ``(episodes, steps, 3)``: applied acceleration [m/s2], slip angle [rad], yaw rate
            [rad/s] over each step.
        """
        acceleration = filtered(commands[..., 0], self.log_acceleration_lag_s.exp(), dt_s)
        steering = filtered(commands[..., 1], self.log_steering_lag_s.exp(), dt_s)
        slip = torch.atan(0.5 * torch.tan(steering + self.steering_bias_rad))
        half = VEHICLE_LENGTH_M * self.log_wheelbase_scale.exp() / 2
        yaw_rate = speeds_mps * torch.sin(slip) / half
        return torch.stack([acceleration, slip, yaw_rate], dim=-1)


def filtered(commands: Tensor, lag_s: Tensor, dt_s: float) -> Tensor:
    """The applied values of a first-order actuator from rest, for commands ``(episodes, steps)``.

    The recursion of :func:`sims.plants.first_order_lag` unrolled into a convolution with its impulse
    response ``alpha (1 - alpha)^j`` (truncated at :data:`LAG_KERNEL_STEPS`), so that a whole batch of
    episodes is one differentiable operation instead of a loop over steps.
    """
    alpha = 1.0 - torch.exp(-dt_s / lag_s)
    response = alpha * (1.0 - alpha) ** torch.arange(LAG_KERNEL_STEPS, dtype=commands.dtype)
    padded = torch.nn.functional.pad(commands.unsqueeze(1), (LAG_KERNEL_STEPS - 1, 0))
    return torch.nn.functional.conv1d(padded, response.flip(0).view(1, 1, -1)).squeeze(1)


def save_dynamics(model: LearnedBicycle, path: Path) -> None:
    """Write the model's parameters as safetensors to ``path``."""
    save_file({name: value.detach().reshape(1) for name, value in model.state_dict().items()}, path)


def load_dynamics(path: Path) -> DynamicsParameters:
    """Read the parameters :func:`save_dynamics` wrote.

    :raises ConfigError: one line naming the file, if it is missing or not such weights.
    """
    try:
        tensors = load_file(path)
        model = LearnedBicycle()
        model.load_state_dict({name: value.reshape(()) for name, value in tensors.items()})
        return model.parameters_now()
    except (OSError, RuntimeError, ValueError, KeyError, SafetensorError) as error:
        raise ConfigError(f"{path}: not a learned dynamics model ({error})") from None


def dynamics_files(plant: str) -> tuple[Path, Path]:
    """The weights and card of the model learned on ``plant``."""
    folder = DYNAMICS_DIR / plant
    return folder / WEIGHTS_FILE, folder / CARD_FILE


def shipped_plants() -> list[str]:
    """The plants a model was learned on and shipped for, sorted."""
    return sorted(p.parent.name for p in DYNAMICS_DIR.glob(f"*/{WEIGHTS_FILE}"))
