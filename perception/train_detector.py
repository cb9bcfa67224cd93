"""Training of the vehicle detector (:mod:`perception.detector`) from scratch on rendered frames.

Every frame of every stack of the training datasets is a sample (:mod:`perception.vision_data`),
flipped left-right and up-down at random (a bird's-eye road looks the same either way). Each
epoch runs AdamW over shuffled minibatches (mixed precision on CUDA; the learning rate warms up
linearly, then decays on a cosine to zero), then measures mAP@0.5 and COCO mAP on the last frame of
each validation stack. The weights with the best validation mAP@0.5 (then mAP) are kept as
``best.safetensors`` (fp16) with ``card.json``; ``last.pt`` (weights, optimiser, schedule,
history) is written atomically after every epoch, and each epoch's randomness is seeded from the
run's seed and the epoch, so ``resume`` continues an interrupted run exactly where it stopped.
"""

from __future__ import annotations

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
from torchvision.models.detection import FasterRCNN

from perception.detector import (
    VEHICLE_LABEL,
    DetectorConfig,
    build_detector,
    evaluate_detector,
    half_state,
    to_tensors,
)
from perception.device import resolve_device
from perception.vision_data import VisionFrames, load_vision_frames
from sims.files import atomic_path, save_torch, write_json
from sims.strict import ConfigError

GRADIENT_CLIP = 10.0  # max gradient norm: early from-scratch RPN steps can spike


@dataclass(frozen=True)
class DetectorTrainConfig:
    """One training run of the detector.

    :param warmup_steps: batches over which the learning rate rises linearly from zero.
    :param flips: flip frames (and boxes) left-right and up-down at random.
    """

    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    flips: bool = True
    detector: DetectorConfig = DetectorConfig()
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate}")


OnBatch = Callable[[int, int, float], None]


def train_detector(
    config: DetectorTrainConfig,
    data: Path | Sequence[Path],
    validation: Path,
    out: Path,
    *,
    resume: bool = False,
    card_extra: dict[str, Any] | None = None,
    on_batch: OnBatch | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train as the module docstring says; return the per-epoch history.

    :param data: the training dataset, or several (rendered with the same window) used together.
    :param validation: frames of other episodes that pick the best epoch.
    :param card_extra: more entries for ``card.json`` (the command line, the machine...).
    :param on_batch: called as ``on_batch(done, total, running_loss)`` with batches over the run.
    :param on_epoch: called with each epoch's record (loss, validation mAP, wall time).
    """
    device = resolve_device(config.device)
    folders = [data] if isinstance(data, Path) else list(data)
    train_set = load_vision_frames(folders)
    val_set = load_vision_frames([validation], last_only=True)
    if val_set.spec != train_set.spec:
        raise ConfigError(f"{validation} was rendered with another window than {folders[0]}")
    last = out / "last.pt"
    if not resume and last.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume or choose another --out")
    if resume and not last.exists():
        raise ConfigError(f"{out}: nothing to resume (no {last.name})")
    torch.manual_seed(config.seed)
    model = build_detector(train_set.spec, config.detector).to(device)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches = -(-len(train_set) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, _warmup_cosine(config.warmup_steps, config.epochs * batches)
    )
    history: list[dict[str, Any]] = []
    if resume:
        state = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        history = state["history"]
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tensorboard"))
    try:
        for epoch in range(len(history), config.epochs):
            started = time.perf_counter()
            loss = _train_epoch(
                model, optimiser, schedule, train_set, config, device, epoch, on_batch
            )
            model.eval()
            figures = evaluate_detector(model, val_set, device=device, batch_size=32)
            record = {
                "epoch": epoch + 1,
                "train_loss": loss,
                "validation_map50": figures["map50"],
                "validation_map": figures["map"],
                "wall_s": round(time.perf_counter() - started, 1),
            }
            history.append(record)
            for key, value in record.items():
                writer.add_scalar(f"detector/{key}", value, (epoch + 1) * batches)
            if _score(record) >= max(_score(r) for r in history):
                card = {
                    **(card_extra or {}),
                    "detector": asdict(config.detector),
                    "frame_spec": asdict(train_set.spec),
                    "config": asdict(config),
                    "data": [str(folder) for folder in folders],
                    "validation": str(validation),
                    "training_frames": len(train_set),
                    "validation_frames": len(val_set),
                    "train_wall_s": round(sum(r["wall_s"] for r in history), 1),
                    **record,
                }
                _save_best(model, out, card)
            state = {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "history": history,
            }
            save_torch(state, last)
            if on_epoch is not None:
                on_epoch(record)
    finally:
        writer.close()
    return history


def _score(record: dict[str, Any]) -> tuple[float, float]:
    return record["validation_map50"], record["validation_map"]


def _warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """The learning-rate factor at each batch: a linear warm-up, then a cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def flipped_batch(
    frames: VisionFrames, chosen: np.ndarray, generator: np.random.Generator, *, flips: bool
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The frames ``chosen`` and their boxes, each flipped left-right and up-down at random.

    :return: ``(n, H, W, 3)`` uint8 images and each one's ``(k, 4)`` boxes.
    """
    images, boxes = frames.images[chosen].copy(), [frames.boxes(int(i)) for i in chosen]
    if not flips:
        return images, boxes
    height, width = images.shape[1:3]
    for row, (horizontal, vertical) in enumerate(generator.random((len(chosen), 2)) < 0.5):
        box = boxes[row].copy()
        if horizontal:
            images[row] = images[row, :, ::-1]
            box[:, [0, 2]] = width - box[:, [2, 0]]
        if vertical:
            images[row] = images[row, ::-1]
            box[:, [1, 3]] = height - box[:, [3, 1]]
        boxes[row] = box
    return images, boxes


def _train_epoch(
    model: FasterRCNN,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    frames: VisionFrames,
    config: DetectorTrainConfig,
    device: str,
    epoch: int,
    on_batch: OnBatch | None,
) -> float:
    """One pass over ``frames``; return the mean loss (the sum of the four Faster R-CNN terms)."""
    model.train()
    # The epoch's randomness (order, flips, the RPN's and RoI heads' sampling) depends only on the
    # seed and the epoch, so a resumed run repeats the epochs it lost exactly.
    generator = np.random.default_rng([config.seed, epoch])
    torch.manual_seed(config.seed * 100_003 + epoch)
    order = generator.permutation(len(frames))
    batches = -(-len(order) // config.batch_size)
    scaler = torch.amp.GradScaler(enabled=device == "cuda")
    losses: list[float] = []
    for index in range(batches):
        chosen = order[index * config.batch_size : (index + 1) * config.batch_size]
        images, boxes = flipped_batch(frames, chosen, generator, flips=config.flips)
        targets = [
            {
                "boxes": torch.as_tensor(box, device=device).reshape(-1, 4),
                "labels": torch.full((len(box),), VEHICLE_LABEL, device=device),
            }
            for box in boxes
        ]
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            terms = model(to_tensors(images, device), targets)
        total = sum(terms.values(), torch.zeros((), device=device))
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.unscale_(optimiser)
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRADIENT_CLIP)
        scaler.step(optimiser)
        scaler.update()
        schedule.step()
        losses.append(float(total.detach()))
        if on_batch is not None:
            running = float(np.mean(losses[-50:]))
            on_batch(epoch * batches + index + 1, config.epochs * batches, running)
    return float(np.mean(losses))


def _save_best(model: FasterRCNN, out: Path, card: dict[str, Any]) -> None:
    """``best.safetensors`` (fp16, :func:`~perception.detector.half_state`) and ``card.json``,
    each written atomically."""
    with atomic_path(out / "best.safetensors") as temporary:
        save_file(half_state(model), temporary)
    write_json(out / "card.json", card, allow_nan=True)
