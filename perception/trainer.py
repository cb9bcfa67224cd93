"""The order of work of a training run, written once for every network of perception (issue #28).

:class:`EpochTrainer` runs epochs until its subclass says the run is done, and around each one
does what every run here does: it refuses an ``out`` folder that already holds a run unless
resuming, resumes from ``last.pt``, writes each epoch's figures to TensorBoard, keeps the best
weights as ``best.safetensors`` with ``card.json`` beside them, and writes ``last.pt`` after every
epoch, all atomically (:mod:`sims.files`), so that an interrupt loses only the epoch under way.
The subclasses (:mod:`perception.train`, :mod:`perception.train_detector`,
:mod:`perception.train_gan`) fill the hooks: what to build, how to train and validate an epoch,
which epoch is best, what is kept and what a resumed run needs.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from sims.files import atomic_path, remove_temporaries, save_torch, write_json
from sims.provenance import provenance, sha256
from sims.strict import ConfigError

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LAST_FILE = "last.pt"  # weights, optimisers, history...: what a resumed run starts from
BEST_FILE = "best.safetensors"  # the kept weights
CARD_FILE = "card.json"  # what the kept weights are: the run's settings and their epoch's figures
TENSORBOARD_FOLDER = "tensorboard"

Record = dict[str, Any]  # one epoch's figures, as returned in the history
OnEpoch = Callable[[Record], None]


class EpochTrainer(ABC):
    """A training run, epoch by epoch, that keeps its best weights and can be resumed.

    :meth:`run` owns the order of work; a subclass builds its networks in :meth:`start` and fills
    the per-epoch hooks. Everything a run keeps lives under ``out``.
    """

    # The prefix of the TensorBoard scalars (``{tag}/{key}``); None: no TensorBoard.
    TENSORBOARD_TAG: ClassVar[str | None] = None

    def __init__(
        self, out: Path, *, resume: bool, device: str, on_epoch: OnEpoch | None = None
    ) -> None:
        """Set the run up; nothing is read or built until :meth:`run`.

        :param out: the run's folder.
        :param resume: continue the run in ``out`` from its ``last.pt``.
        :param device: ``cpu`` or ``cuda`` (resolved, not ``auto``).
        :param on_epoch: called with each epoch's record once ``last.pt`` holds it.
        """
        self.out = out
        self.resume = resume
        self.device = device
        self.on_epoch = on_epoch

    def run(self) -> list[Record]:
        """Train until :meth:`finished`, keeping the best epoch's weights and ``last.pt``.

        :return: the history: every epoch's record, those of the resumed run included.
        :raises ConfigError: ``out`` holds a run and ``resume`` is off, or nothing to resume.
        """
        last = self.out / LAST_FILE
        if self.resume and not last.exists():
            raise ConfigError(f"{self.out}: nothing to resume (no {last.name})")
        if not self.resume and last.exists():
            raise ConfigError(
                f"{self.out} already holds a run; pass --resume or choose another --out"
            )
        self.start()
        history: list[Record] = []
        if self.resume:
            remove_temporaries(self.out)  # what the interrupted run was writing when killed
            state = torch.load(last, map_location=self.device, weights_only=True)
            self.load_state(state)
            history = state["history"]
        self.out.mkdir(parents=True, exist_ok=True)
        writer = self._open_writer()
        try:
            while not self.finished(history):
                self._run_epoch(history, writer)
        finally:
            if writer is not None:
                writer.close()
        return history

    def _run_epoch(self, history: list[Record], writer: SummaryWriter | None) -> None:
        """Train and validate one epoch, record it, keep its weights if best, write ``last.pt``."""
        epoch = len(history)
        started = time.perf_counter()
        record: Record = {"epoch": epoch + 1, **self.train_epoch(epoch, history)}
        record.update(self.validate(epoch))
        record["wall_s"] = round(time.perf_counter() - started, 1)
        history.append(record)
        if writer is not None:
            for key, value in record.items():
                writer.add_scalar(f"{self.TENSORBOARD_TAG}/{key}", value, self.global_step(epoch))
        self.write_epoch_files(epoch)
        if self.is_best(record, history):
            card = self.card(record, history)
            with atomic_path(self.out / BEST_FILE) as temporary:
                self.write_best_weights(temporary)
            # What `drive doctor` checks the weights against, and where they came from.
            card = {**card, "sha256": sha256(self.out / BEST_FILE), "provenance": provenance()}
            write_json(self.out / CARD_FILE, card, allow_nan=True)
        save_torch({**self.resumable_state(), "history": history}, self.out / LAST_FILE)
        if self.on_epoch is not None:
            self.on_epoch(record)

    def _open_writer(self) -> SummaryWriter | None:
        if self.TENSORBOARD_TAG is None:
            return None
        # Imported here: TensorBoard is slow to import and a run without it does not need it.
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.out / TENSORBOARD_FOLDER))

    # The hooks.

    @abstractmethod
    def start(self) -> None:
        """Load the data and build the networks, optimisers and schedules, seeded; before any
        state of a resumed run is loaded into them (:meth:`load_state`)."""

    @abstractmethod
    def finished(self, history: Sequence[Record]) -> bool:
        """Whether the run is done after the epochs of ``history``.

        :param history: the records of the epochs run so far.
        """

    @abstractmethod
    def train_epoch(self, epoch: int, history: Sequence[Record]) -> Record:
        """Train one epoch.

        :param epoch: the epoch's index, from 0 (its record's ``epoch`` is one more).
        :param history: the records of the epochs before it.
        :return: the record's training figures (the mean losses...).
        """

    @abstractmethod
    def validate(self, epoch: int) -> Record:
        """Measure the networks just trained on the validation data.

        :param epoch: the epoch's index, from 0.
        :return: the record's validation figures.
        """

    @abstractmethod
    def is_best(self, record: Record, history: Sequence[Record]) -> bool:
        """Whether the epoch of ``record`` is the best so far, so its weights are kept.

        :param record: the epoch's record, the last of ``history``.
        :param history: every epoch's record so far.
        """

    @abstractmethod
    def card(self, record: Record, history: Sequence[Record]) -> dict[str, Any]:
        """``card.json`` for the weights kept from the epoch of ``record``.

        :param record: the kept epoch's record, the last of ``history``.
        :param history: every epoch's record so far.
        """

    @abstractmethod
    def write_best_weights(self, path: Path) -> None:
        """Write the weights to keep as safetensors to ``path`` (a temporary file that replaces
        ``best.safetensors`` once written).

        :param path: the file to write.
        """

    @abstractmethod
    def resumable_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the history (weights, optimisers, random states),
        as tensors and plain containers that ``torch.load(weights_only=True)`` reads back."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from the ``last.pt`` of an interrupted run.

        :param state: what :meth:`resumable_state` gave, with ``history`` beside it.
        """

    def global_step(self, epoch: int) -> int:
        """The step at which TensorBoard records the epoch's figures (default: epochs done).

        :param epoch: the epoch's index, from 0.
        """
        return epoch + 1

    def write_epoch_files(self, epoch: int) -> None:
        """Write what the run keeps of every epoch besides its record (default: nothing).

        :param epoch: the epoch's index, from 0.
        """


class OneNetworkTrainer(EpochTrainer):
    """An :class:`EpochTrainer` of one network with one optimiser and a per-batch schedule, which
    :meth:`start` sets as ``model``, ``optimiser``, ``schedule`` and ``batches`` (per epoch)."""

    model: torch.nn.Module
    optimiser: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    batches: int

    def resumable_state(self) -> dict[str, Any]:
        """The network, the optimiser and the schedule."""
        return {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "schedule": self.schedule.state_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`resumable_state` saved."""
        self.model.load_state_dict(state["model"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.schedule.load_state_dict(state["schedule"])

    def global_step(self, epoch: int) -> int:
        """Batches done at the end of the epoch."""
        return (epoch + 1) * self.batches
