"""Training of :class:`~perception.cnn.StnPerceptionNet` on datasets written by ``drive dataset``.

Each epoch runs AdamW over shuffled minibatches (mixed precision on CUDA; the learning rate decays
on a cosine to zero over the run), then evaluates on the validation set (:mod:`perception.evaluate`).
The weights with the lowest validation loss are kept as ``best.safetensors`` with ``card.json``
beside them; ``last.pt`` (weights, optimiser, epoch, history) is written after every epoch,
atomically, so ``resume`` continues an interrupted run (the order of work of
:class:`~perception.trainer.EpochTrainer`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from perception.augment import AugmentRanges, augment
from perception.cnn import PIXEL_READINGS, StnPerceptionNet, stack_channels
from perception.device import resolve_device
from perception.evaluate import evaluate
from perception.losses import batch_loss
from perception.robustness import pgd
from perception.trainer import OneNetworkTrainer
from sims.dataset import MANIFEST, SLOTS, FrameSpec, load_shards
from sims.reading import checked_state, read_json, refusing
from sims.strict import ConfigError, described

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

    epochs: int = described(20, "Passes over the training set.", minimum=1)
    batch_size: int = described(64, "Samples per step.", minimum=1)
    learning_rate: float = described(1e-3, "AdamW's learning rate.", minimum=0.0)
    weight_decay: float = described(1e-4, "AdamW's weight decay.", minimum=0.0)
    width: int = described(16, "Channels of the first convolution.", minimum=1)
    seed: int = described(0, "Seed of the run.", minimum=0)
    device: str = described("auto", "auto, cpu or cuda.")
    # Which epoch's weights are kept: the lowest validation loss, or the highest validation
    # presence F1 (ties to the lower position error). On a small training set the loss can rise
    # from the first epochs on while the detections still improve, and "loss" keeps an early epoch.
    select: str = described(
        "loss", "Keep the epoch with the lowest validation loss, or the best F1 (f1)."
    )
    # Adversarial training (Madry et al. 2018): a share of every batch is replaced by its PGD
    # perturbation against the network being trained (issue 31). 0 turns it off.
    adversarial_epsilon: float = described(
        0.0, "PGD radius of adversarial training [1/255 pixel levels]; 0: off.", minimum=0.0
    )
    augment: bool = described(
        False, "Draw a render variation per sample of every batch (perception/augment.py)."
    )
    init: str = described(
        "", "Start from the weights in this folder (best.safetensors); empty: from scratch."
    )
    augment_zoom: float = described(
        0.12, "With --augment, the zoom drawn per sample lies in 1 +- this.", minimum=0.0
    )
    pixels: str = described(
        "rgb",
        "How the network reads pixels: rgb (as drawn), relative (to the frame's mean colour) or "
        "hue-blind (relative, the largest and smallest channel; perception.cnn.PIXEL_READINGS).",
    )
    adversarial_steps: int = described(3, "PGD steps per adversarial batch.", minimum=1)
    adversarial_share: float = described(
        0.5, "Share of each batch replaced by its PGD perturbation.", minimum=0.0
    )
    heading_weight: float = described(
        1.0,
        "Weight of the heading in the kinematics loss, against 1 for positions and velocities.",
        minimum=0.0,
    )
    turn_weight: float = described(
        0.0,
        "Each vehicle's kinematics count 1 + this x |sin| of its heading relative to the ego's "
        "(lane changers weigh more); 0: every vehicle alike.",
        minimum=0.0,
    )

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "width", "adversarial_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.adversarial_epsilon < 0:
            raise ConfigError(f"adversarial_epsilon must be >= 0, got {self.adversarial_epsilon}")
        if not 0 <= self.adversarial_share <= 1:
            raise ConfigError(f"adversarial_share must lie in [0, 1], got {self.adversarial_share}")
        for name in ("heading_weight", "turn_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.augment_zoom < 1:
            raise ConfigError(f"augment_zoom must lie in [0, 1), got {self.augment_zoom}")
        if self.pixels not in PIXEL_READINGS:
            raise ConfigError(
                f"pixels must be one of {', '.join(PIXEL_READINGS)}, got {self.pixels!r}"
            )
        if self.select not in SELECTIONS:
            raise ConfigError(f"select must be one of {', '.join(SELECTIONS)}, got {self.select!r}")


def frame_spec(data: Path) -> FrameSpec:
    """The frame spec a dataset was written with."""
    manifest = data / MANIFEST
    if not manifest.exists():
        raise ConfigError(f"{data}: no {MANIFEST}; generate the dataset with `drive dataset`")
    document = read_json(manifest, "dataset manifest")
    with refusing(manifest, "dataset manifest"):
        return FrameSpec(**document["config"]["frames"])


def check_window(data: Path, frames: FrameSpec) -> None:
    """Refuse held-out frames drawn in another window than the network reads.

    :raises ConfigError: naming the dataset, both windows and the option that draws the right one.
    """
    drawn = frame_spec(data)
    if drawn != frames:
        raise ConfigError(
            f"{data}: frames {drawn.width_px}x{drawn.height_px} px at {drawn.scaling_px_per_m:g} "
            f"px/m, but the network reads {frames.width_px}x{frames.height_px} px at "
            f"{frames.scaling_px_per_m:g} px/m; draw them with `drive dataset --frame-width-px "
            f"{frames.width_px}`"
        )


def load_frames(*folders: Path) -> dict[str, np.ndarray]:
    """The shards of one or more datasets (:func:`sims.dataset.load_shards`), concatenated, with
    the images as network input (:func:`~perception.cnn.stack_channels`)."""
    parts = [with_defaults(load_shards(folder)) for folder in folders]
    loaded = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    loaded["images"] = stack_channels(loaded["images"])
    return loaded


def with_defaults(data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A dataset's arrays with the labels that datasets before issue 31 lack: frames at the
    window's own scale (``zoom`` 1) of a straight highway (``lane_labels`` 1), and vehicle rows
    padded to :data:`~sims.dataset.SLOTS` (such a dataset labelled the nearest 10 only)."""
    samples = len(data["images"])
    vehicles = data["vehicles"]
    # Datasets before issue 31 labelled 10 vehicles: their rows end with empty slots.
    if vehicles.shape[1] < SLOTS:
        vehicles = np.pad(vehicles, ((0, 0), (0, SLOTS - vehicles.shape[1]), (0, 0)))
    return {
        "zoom": np.ones(samples, dtype=np.float32),
        "lane_labels": np.ones(samples, dtype=np.uint8),
        **data,
        "vehicles": vehicles,
    }


def train_perception(
    config: PerceptionTrainConfig,
    data: Path | Sequence[Path],
    validation: Path | Sequence[Path],
    out: Path,
    *,
    resume: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train as the module docstring says; return the per-epoch history.

    :param data: the training dataset, or several (rendered with the same frames) used together.
    :param validation: the validation dataset, or several used together.
    :param on_batch: called as ``on_batch(done, total)`` with batches over the whole run.
    :param on_epoch: called with each epoch's record (losses, validation figures, wall time).
    """
    trainer = PerceptionTrainer(
        config, data, validation, out, resume=resume, on_batch=on_batch, on_epoch=on_epoch
    )
    return trainer.run()


class PerceptionTrainer(OneNetworkTrainer):
    """The hooks of :class:`~perception.trainer.EpochTrainer` for the perception network."""

    TENSORBOARD_TAG = "perception"
    model: StnPerceptionNet

    def __init__(
        self,
        config: PerceptionTrainConfig,
        data: Path | Sequence[Path],
        validation: Path | Sequence[Path],
        out: Path,
        *,
        resume: bool = False,
        on_batch: Callable[[int, int], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Take the run's settings; :func:`train_perception` documents the parameters."""
        super().__init__(
            out, resume=resume, device=resolve_device(config.device), on_epoch=on_epoch
        )
        self.config = config
        self.folders = [data] if isinstance(data, Path) else list(data)
        self.validation = [validation] if isinstance(validation, Path) else list(validation)
        self.on_batch = on_batch
        self.shuffle: np.random.Generator | None = None  # seeded at the run's first epoch

    def start(self) -> None:
        """Load the datasets (all rendered with the same frames) and build the network."""
        config, folders = self.config, self.folders
        self.frames = frame_spec(folders[0])
        for folder in [*folders[1:], *self.validation]:
            if frame_spec(folder) != self.frames:
                raise ConfigError(f"{folder} was rendered with other frames than {folders[0]}")
        self.train_set, self.val_set = load_frames(*folders), load_frames(*self.validation)
        torch.manual_seed(config.seed)
        self.model = StnPerceptionNet(self.frames, width=config.width, pixels=config.pixels).to(
            self.device
        )
        if config.init:
            weights = Path(config.init) / "best.safetensors"
            if not weights.exists():
                raise ConfigError(f"init: no {weights}; give a folder of trained weights")
            with refusing(weights, "safetensors weights file"):
                tensors = load_file(weights)
            state = checked_state(tensors, self.model.state_dict(), path=weights)
            self.model.load_state_dict(state)
        self.optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        self.batches = -(-len(self.train_set["images"]) // config.batch_size)
        total_batches = config.epochs * self.batches
        # Cosine decay of the learning rate to zero over the run, stepped per batch.
        self.schedule = torch.optim.lr_scheduler.LambdaLR(
            self.optimiser,
            lambda step: 0.5 * (1 + math.cos(math.pi * min(step / total_batches, 1.0))),
        )

    def resumable_state(self) -> dict[str, Any]:
        """The network, optimiser and schedule, and where the shuffling generator stands: without
        it a resumed run shuffled its epochs otherwise than an undisturbed one (issue 33's kill
        tests). Its state holds 128-bit integers, kept as JSON text for ``weights_only``."""
        shuffle = "" if self.shuffle is None else json.dumps(self.shuffle.bit_generator.state)
        return {**super().resumable_state(), "shuffle": shuffle}

    def load_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`resumable_state` saved (a ``last.pt`` without ``shuffle``: the
        generator is seeded anew, as such runs always did)."""
        super().load_state(state)
        if state.get("shuffle"):
            self.shuffle = np.random.default_rng()
            self.shuffle.bit_generator.state = json.loads(state["shuffle"])

    def finished(self, history: Sequence[dict[str, Any]]) -> bool:
        """Whether ``config.epochs`` epochs are done."""
        return len(history) >= self.config.epochs

    def train_epoch(self, epoch: int, history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """One pass over the shuffled training set; the mean loss."""
        if self.shuffle is None:
            # One generator for the rest of the run, seeded by the epoch it starts at.
            self.shuffle = np.random.default_rng(self.config.seed + epoch)
        config, device, data = self.config, self.device, self.train_set
        self.model.train()
        order = self.shuffle.permutation(len(data["images"]))
        scaler = torch.amp.GradScaler(enabled=device == "cuda")
        losses = []
        for index in range(self.batches):
            chosen = order[index * config.batch_size : (index + 1) * config.batch_size]
            batch = {
                key: torch.as_tensor(data[key][chosen]).to(device)
                for key in ("images", "vehicles", "occupancy", "ego_lane", "lane_labels", "zoom")
            }
            pixels = batch["images"].permute(0, 3, 1, 2).float().mul_(1 / 255)
            if config.augment:
                draws = torch.Generator().manual_seed(config.seed + epoch * self.batches + index)
                half_m = (self.frames.half_length_m, self.frames.half_width_m)
                zoom = (1 - config.augment_zoom, 1 + config.augment_zoom)
                ranges = AugmentRanges(zoom=zoom)
                pixels, batch = augment(pixels, batch, draws, half_m=half_m, ranges=ranges)
            if config.adversarial_epsilon > 0:
                pixels = self._adversarial(pixels, batch, seed=epoch * self.batches + index)
            with torch.autocast(device_type=device, enabled=device == "cuda"):
                output = self.model.forward_pixels(pixels)
            terms = batch_loss(
                output,
                batch,
                heading_weight=config.heading_weight,
                turn_weight=config.turn_weight,
            )
            self.optimiser.zero_grad(set_to_none=True)
            scaler.scale(terms.total).backward()
            scaler.step(self.optimiser)
            scaler.update()
            self.schedule.step()
            losses.append(float(terms.total.detach()))
            if self.on_batch is not None:
                self.on_batch(epoch * self.batches + index + 1, config.epochs * self.batches)
        return {"train_loss": float(np.mean(losses))}

    def _adversarial(self, pixels: Tensor, batch: dict[str, Tensor], *, seed: int) -> Tensor:
        """The batch with its first ``adversarial_share`` replaced by their PGD perturbation
        (:func:`perception.robustness.pgd`), made with the network in evaluation mode so that the
        attack leaves the batch norms' statistics alone."""
        config = self.config
        count = round(config.adversarial_share * len(pixels))
        if count == 0:
            return pixels
        attack = pgd(
            self.model,
            config.adversarial_epsilon / 255,
            seed=config.seed + seed,
            steps=config.adversarial_steps,
        )
        self.model.eval()
        head = {key: value[:count] for key, value in batch.items()}
        perturbed = attack(pixels[:count], head)
        self.model.train()
        return torch.cat([perturbed, pixels[count:]])

    def validate(self, epoch: int) -> dict[str, Any]:
        """The validation loss and figures (:func:`~perception.evaluate.evaluate`)."""
        figures, validation_loss = evaluate(self.model, self.val_set, device=self.device)
        return {"validation_loss": validation_loss, **asdict(figures)}

    def is_best(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> bool:
        """Whether ``record`` ranks first under ``config.select`` (:func:`selection_key`)."""
        select = self.config.select
        return selection_key(record, select) <= min(selection_key(r, select) for r in history)

    def card(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The run's settings and data, then the kept epoch's record."""
        return {
            "config": asdict(self.config),
            "frame_spec": asdict(self.frames),
            "data": [str(folder) for folder in self.folders],
            "validation": [str(folder) for folder in self.validation],
            "training_samples": len(self.train_set["images"]),
            "train_wall_s": round(sum(r["wall_s"] for r in history), 1),
            **record,
        }

    def write_best_weights(self, path: Path) -> None:
        """The network's weights, as they are (fp32)."""
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, path)
