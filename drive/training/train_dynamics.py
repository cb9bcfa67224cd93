"""``drive train-dynamics``: fit the learned bicycle (:mod:`control.dynamics_model`) to logged driving.

The run is an :class:`~perception.trainer.OneNetworkTrainer` (the project's trainer: resumable
``last.pt``, best weights as ``best.safetensors`` with ``card.json``, all written atomically).
Each epoch takes ``steps_per_epoch`` Adam steps on the whole training set (a few thousand steps of
driving fit in one batch) and measures the validation set. The loss compares, per step, what the
model predicts the car applied with what the logged motion shows:

* acceleration ``(v' - v) / dt`` [m/s2];
* slip angle ``atan2(y' - y, x' - x) - heading`` [rad] (highway-env moves the centre along
  ``heading + beta``);
* yaw rate ``(heading' - heading) / dt`` [rad/s];

each divided by its spread in the training set. The card records the same errors of the nominal
model (no lag, highway-env's wheelbase, no bias) on the validation set: the baseline of the run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from control.dynamics_model import DynamicsParameters, LearnedBicycle, save_dynamics
from drive.runs.dynamics_dataset import load_dynamics_dataset
from perception.trainer import OneNetworkTrainer, Record
from sims.strict import ConfigError, described

MIN_SPEED_MPS = 1.0  # [m/s] slower steps say little about the slip angle and are left out
QUANTITIES = ("acceleration_mps2", "slip_rad", "yaw_rate_radps")


@dataclass(frozen=True)
class DynamicsTrainConfig:
    """One fit of the learned bicycle."""

    epochs: int = described(20, "Epochs.", minimum=1)
    steps_per_epoch: int = described(
        25, "Adam steps (on the whole training set) per epoch.", minimum=1
    )
    learning_rate: float = described(0.05, "Adam's learning rate.", minimum=0.0)
    seed: int = described(0, "Seed of the run.", minimum=0)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.steps_per_epoch < 1:
            raise ConfigError("epochs and steps_per_epoch must be >= 1")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")


@dataclass(frozen=True, eq=False)
class Episodes:
    """Episodes of equal length as tensors: what the model reads and the targets it is fitted to."""

    commands: torch.Tensor  # (episodes, steps, 2)
    speeds_mps: torch.Tensor  # (episodes, steps)
    targets: torch.Tensor  # (episodes, steps, 3): QUANTITIES
    mask: torch.Tensor  # (episodes, steps) True where the step counts


def episode_tensors(episodes: list[dict[str, np.ndarray]], dt_s: float) -> Episodes:
    """Targets of :data:`QUANTITIES` from logged episodes, cut to the shortest episode's length."""
    steps = min(len(episode["command"]) for episode in episodes)
    state = np.stack([episode["state"][:steps] for episode in episodes])
    after = np.stack([episode["next_state"][:steps] for episode in episodes])
    course = np.arctan2(after[..., 1] - state[..., 1], after[..., 0] - state[..., 0])
    targets = np.stack(
        [
            (after[..., 3] - state[..., 3]) / dt_s,
            np.remainder(course - state[..., 2] + math.pi, 2 * math.pi) - math.pi,
            (after[..., 2] - state[..., 2]) / dt_s,
        ],
        axis=-1,
    )
    return Episodes(
        commands=torch.from_numpy(np.stack([e["command"][:steps] for e in episodes])),
        speeds_mps=torch.from_numpy(state[..., 3].copy()),
        targets=torch.from_numpy(targets),
        mask=torch.from_numpy(state[..., 3] > MIN_SPEED_MPS),
    )


def errors(model: LearnedBicycle, data: Episodes, dt_s: float) -> torch.Tensor:
    """Per-quantity errors (prediction minus target) of the counted steps, shape ``(n, 3)``."""
    predicted = model(data.commands, data.speeds_mps, dt_s)
    return (predicted - data.targets)[data.mask]


class DynamicsTrainer(OneNetworkTrainer):
    """The hooks of :class:`~perception.trainer.EpochTrainer` for the learned bicycle."""

    TENSORBOARD_TAG = None
    model: LearnedBicycle

    def __init__(
        self,
        config: DynamicsTrainConfig,
        data: Path,
        validation: Path,
        out: Path,
        *,
        resume: bool = False,
        on_epoch: Callable[[Record], None] | None = None,
    ) -> None:
        """:param data: a ``drive dataset --dynamics`` folder; ``validation`` another, other seeds."""
        super().__init__(out, resume=resume, device="cpu", on_epoch=on_epoch)
        self.config = config
        self.data, self.validation = data, validation

    def start(self) -> None:
        """Load both datasets (same plant, same step) and build the model, seeded."""
        settings, train = load_dynamics_dataset(self.data)
        check, held_out = load_dynamics_dataset(self.validation)
        if (settings["config"]["plant"], settings["dt_s"]) != (
            check["config"]["plant"],
            check["dt_s"],
        ):
            raise ConfigError(
                f"{self.validation}: plant or step differ from {self.data}'s; log both on one car"
            )
        self.settings, self.dt_s = settings, float(settings["dt_s"])
        torch.manual_seed(self.config.seed)
        self.train_set = episode_tensors(train, self.dt_s)
        self.validation_set = episode_tensors(held_out, self.dt_s)
        self.scale = self.train_set.targets[self.train_set.mask].std(dim=0)
        self.model = LearnedBicycle()
        self.optimiser = torch.optim.Adam(self.model.parameters(), lr=self.config.learning_rate)
        total = self.config.epochs * self.config.steps_per_epoch
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimiser, T_max=total)
        self.batches = self.config.steps_per_epoch

    def finished(self, history: Sequence[Record]) -> bool:
        return len(history) >= self.config.epochs

    def train_epoch(self, epoch: int, history: Sequence[Record]) -> Record:
        losses = []
        for _ in range(self.config.steps_per_epoch):
            self.optimiser.zero_grad()
            loss = ((errors(self.model, self.train_set, self.dt_s) / self.scale) ** 2).mean()
            loss.backward()
            self.optimiser.step()
            self.schedule.step()
            losses.append(loss.item())
        return {"train_loss": float(np.mean(losses))}

    def validate(self, epoch: int) -> Record:
        with torch.no_grad():
            learned = self._figures(self.model, "")
            nominal = self._figures(LearnedBicycle(DynamicsParameters()), "nominal_")
        return {**learned, **nominal, **asdict(self.model.parameters_now())}

    def _figures(self, model: LearnedBicycle, prefix: str) -> Record:
        error = errors(model, self.validation_set, self.dt_s)
        rms = error.pow(2).mean(dim=0).sqrt()
        figures = {f"{prefix}validation_loss": float(((error / self.scale) ** 2).mean())}
        figures.update(
            {
                f"{prefix}rms_{name}": float(value)
                for name, value in zip(QUANTITIES, rms, strict=True)
            }
        )
        return figures

    def is_best(self, record: Record, history: Sequence[Record]) -> bool:
        return record["validation_loss"] <= min(r["validation_loss"] for r in history)

    def card(self, record: Record, history: Sequence[Record]) -> dict[str, Any]:
        return {
            "model": "control.dynamics_model.LearnedBicycle",
            "plant": self.settings["config"]["plant"],
            "dt_s": self.dt_s,
            "parameters": asdict(self.model.parameters_now()),
            "config": asdict(self.config),
            "data": {"train": str(self.data), "validation": str(self.validation)},
            "dataset": self.settings["config"],
            "epoch": record,
            "epochs_run": len(history),
        }

    def write_best_weights(self, path: Path) -> None:
        save_dynamics(self.model, path)
