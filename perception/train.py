"""Training of :class:`~perception.cnn.StnPerceptionNet` on datasets written by ``drive dataset``.

Each epoch runs AdamW over shuffled minibatches (mixed precision on CUDA; the learning rate decays
on a cosine to zero over the run), then evaluates on the validation set (:mod:`perception.evaluate`). The weights with the lowest validation loss are kept
as ``best.safetensors`` with ``card.json`` beside them; ``last.pt`` (weights, optimiser, epoch,
history) is written after every epoch, atomically, so ``resume`` continues an interrupted run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.utils.tensorboard import SummaryWriter

from perception.cnn import StnPerceptionNet, stack_channels
from perception.device import resolve_device
from perception.evaluate import evaluate
from perception.losses import perception_loss
from sims.dataset import MANIFEST, FrameSpec, load_shards
from sims.files import atomic_path, save_torch, write_json
from sims.strict import ConfigError

SELECTIONS = ("loss", "f1")


def selection_key(record: dict[str, Any], select: str) -> tuple[float, float]:
    """Lower is better: the epoch record's rank under the ``select`` rule."""
    if select == "loss":
        return (record["validation_loss"], 0.0)
    position = record["position_mae_m"]
    return (-record["presence_f1"], position if math.isfinite(position) else math.inf)


@dataclass(frozen=True)
class PerceptionTrainConfig:
    """One training run of the perception network."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 16
    seed: int = 0
    device: str = "auto"
    # Which epoch's weights are kept: the lowest validation loss, or the highest validation
    # presence F1 (ties to the lower position error). On a small training set the loss can rise
    # from the first epochs on while the detections still improve, and "loss" keeps an early epoch.
    select: str = "loss"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.select not in SELECTIONS:
            raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")


def frame_spec(data: Path) -> FrameSpec:
    """The frame spec a dataset was written with."""
    manifest = data / MANIFEST
    if not manifest.exists():
        raise ConfigError(f"{data}: no {MANIFEST}; generate the dataset with `drive dataset`")
    return FrameSpec(**json.loads(manifest.read_text())["config"]["frames"])


def load_frames(*folders: Path) -> dict[str, np.ndarray]:
    """The shards of one or more datasets (:func:`sims.dataset.load_shards`), concatenated, with
    the images as network input (:func:`~perception.cnn.stack_channels`)."""
    parts = [load_shards(folder) for folder in folders]
    loaded = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    loaded["images"] = stack_channels(loaded["images"])
    return loaded


def train_perception(
    config: PerceptionTrainConfig,
    data: Path | Sequence[Path],
    validation: Path,
    out: Path,
    *,
    resume: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train as the module docstring says; return the per-epoch history.

    :param data: the training dataset, or several (rendered with the same frames) used together.
    :param on_batch: called as ``on_batch(done, total)`` with batches over the whole run.
    :param on_epoch: called with each epoch's record (losses, validation figures, wall time).
    """
    device = resolve_device(config.device)
    folders = [data] if isinstance(data, Path) else list(data)
    frames = frame_spec(folders[0])
    for folder in [*folders[1:], validation]:
        if frame_spec(folder) != frames:
            raise ConfigError(f"{folder} was rendered with other frames than {folders[0]}")
    train_set, val_set = load_frames(*folders), load_frames(validation)
    torch.manual_seed(config.seed)
    model = StnPerceptionNet(frames, width=config.width).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches = -(-len(train_set["images"]) // config.batch_size)
    total_batches = config.epochs * batches
    # Cosine decay of the learning rate to zero over the run, stepped per batch.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / total_batches, 1.0)))
    )
    history: list[dict[str, Any]] = []
    last = out / "last.pt"
    if resume:
        if not last.exists():
            raise ConfigError(f"{out}: nothing to resume (no {last.name})")
        state = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        history = state["history"]
    elif last.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tensorboard"))
    generator = np.random.default_rng(config.seed + len(history))
    for epoch in range(len(history), config.epochs):
        started = time.perf_counter()
        losses = _train_epoch(
            model, optimiser, schedule, train_set, config, device, generator, epoch, on_batch
        )
        figures, validation_loss = evaluate(model, val_set, device=device)
        record = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "validation_loss": validation_loss,
            **asdict(figures),
            "wall_s": round(time.perf_counter() - started, 1),
        }
        history.append(record)
        for key, value in record.items():
            writer.add_scalar(f"perception/{key}", value, (epoch + 1) * batches)
        if selection_key(record, config.select) <= min(
            selection_key(r, config.select) for r in history
        ):
            card = {
                "config": asdict(config),
                "frame_spec": asdict(frames),
                "data": [str(folder) for folder in folders],
                "validation": str(validation),
                "training_samples": len(train_set["images"]),
                "train_wall_s": round(sum(r["wall_s"] for r in history), 1),
                **record,
            }
            _save_best(model, out, card)
        save_torch(
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "history": history,
            },
            last,
        )
        if on_epoch is not None:
            on_epoch(record)
    writer.close()
    return history


def _train_epoch(
    model: StnPerceptionNet,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    data: dict[str, np.ndarray],
    config: PerceptionTrainConfig,
    device: str,
    generator: np.random.Generator,
    epoch: int,
    on_batch: Callable[[int, int], None] | None,
) -> list[float]:
    model.train()
    order = generator.permutation(len(data["images"]))
    batches = -(-len(order) // config.batch_size)
    scaler = torch.amp.GradScaler(enabled=device == "cuda")
    losses = []
    for index in range(batches):
        chosen = order[index * config.batch_size : (index + 1) * config.batch_size]
        images, vehicles, occupancy, lanes = (
            torch.as_tensor(data[key][chosen]).to(device)
            for key in ("images", "vehicles", "occupancy", "ego_lane")
        )
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            output = model(images)
        terms = perception_loss(output, vehicles, occupancy, lanes)
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(terms.total).backward()
        scaler.step(optimiser)
        scaler.update()
        schedule.step()
        losses.append(float(terms.total.detach()))
        if on_batch is not None:
            on_batch(epoch * batches + index + 1, config.epochs * batches)
    return losses


def _save_best(model: StnPerceptionNet, out: Path, card: dict[str, Any]) -> None:
    """``best.safetensors`` and ``card.json``, each written atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(out / "best.safetensors") as temporary:
        save_file(state, temporary)
    write_json(out / "card.json", card, allow_nan=True)
