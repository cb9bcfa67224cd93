"""Training of the generative models of :mod:`perception.gan` on frames written by ``drive dataset``.

Both kinds follow their papers' recipe by default: Adam at 2e-4 with beta1 0.5, one discriminator
step then one generator step per batch, the non-saturating GAN loss on logits. The DCGAN can
instead be trained the way later GANs stabilised it: the hinge loss with a spectrally normalised
discriminator (Miyato et al. 2018), a faster discriminator than generator (two time-scale updates,
Heusel et al. 2017, Adam with beta1 0 and beta2 0.9 as in Zhang et al.'s SAGAN), and an exponential
moving average of the generator's weights as the generator that is scored and kept (Yazici et al.
2019).

- ``cgan`` (pix2pix): the generator's loss is the adversarial term plus ``l1_weight`` (100) times
  the L1 distance to the real frame. After every epoch the generator renders the validation
  layouts; the weights with the highest validation PSNR are kept as ``best.safetensors``.
- ``dcgan``: after every epoch, samples from fixed noise are compared with the validation frames
  by the Frechet distance on our perception network's features (:mod:`perception.frechet`); the
  generator with the lowest is kept as ``best.safetensors``.

``last.pt`` (both networks, both optimisers, the random states, the history) is written
atomically after every epoch, so ``resume`` continues an interrupted run exactly and an interrupt
loses only the epoch under way. A sample grid is written after every epoch (``samples.png``, and
one per epoch under ``samples/``): layout | generated | real for the cgan, fixed-noise samples for
the dcgan. Frames and layouts are held in memory as uint8 (layouts are drawn once per run).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from perception.device import resolve_device
from perception.frechet import frechet_distance, frechet_metric
from perception.gan import (
    DcganDiscriminator,
    GeneratorSpec,
    PatchDiscriminator,
    generate_frames,
    images_to_unit,
    layouts_to_unit,
    sample_frames,
    save_generator,
)
from perception.gan_figures import image_figures, image_grid, layout_picture
from perception.gan_losses import LOSSES, discriminator_loss, generator_loss
from perception.trainer import EpochTrainer
from perception.vision_data import load_gan_data
from sims.dataset import MANIFEST
from sims.files import atomic_path
from sims.machine import machine_description
from sims.strict import ConfigError

KINDS = ("cgan", "dcgan")
SAMPLE_ROWS = 4  # cgan grid rows: validation frames at evenly spread indices
SAMPLE_SEED = 1234  # the dcgan grid's fixed noise
CALIBRATION_BATCHES = 32  # dcgan: batches of noise that set the kept batch-norm statistics


@dataclass(frozen=True)
class GanTrainConfig:
    """One training run of a GAN.

    :param kind: ``cgan`` (layout to frame) or ``dcgan`` (noise to frame).
    :param epochs: passes over the training frames (ignored when ``steps`` is set).
    :param steps: batches in all, instead of ``epochs`` (the last epoch may be partial); 0: off.
    :param l1_weight: the cgan's L1 term against the adversarial one (pix2pix: 100).
    :param real_label: the discriminator's target for real frames (0.9: one-sided label
        smoothing, Salimans et al. 2016, which keeps it from overpowering the generator).
    :param instance_noise: standard deviation (frames in [-1, 1]) of Gaussian noise added to
        every frame the discriminator judges, real or generated, decaying linearly to zero over
        the run (Sonderby et al. 2017): the distributions then overlap, so the discriminator
        cannot win outright on fine detail before the generator has the coarse structure.
    :param spectral_norm: dcgan: spectral normalisation in the discriminator instead of batch norm.
    :param minibatch_std: dcgan: the discriminator sees the batch's spread (against mode collapse).
    :param loss: ``bce`` (the non-saturating loss on logits) or ``hinge``.
    :param discriminator_lr: the discriminator's learning rate; 0: ``learning_rate``.
    :param beta2: Adam's beta2 for both networks.
    :param ema: decay of the moving average of the generator's weights that is scored and kept;
        0: the generator itself.
    :param width: channels of the outermost convolutions of both networks.
    :param latent: length of the dcgan's noise vector.
    :param validation_frames: at most this many validation frames are scored per epoch.
    """

    kind: str = "cgan"
    epochs: int = 10
    steps: int = 0
    batch_size: int = 16
    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    discriminator_lr: float = 0.0
    loss: str = "bce"
    ema: float = 0.0
    l1_weight: float = 100.0
    real_label: float = 1.0
    instance_noise: float = 0.0
    spectral_norm: bool = False
    minibatch_std: bool = False
    width: int = 16
    latent: int = 64
    validation_frames: int = 512
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"unknown GAN kind '{self.kind}'; valid: {', '.join(KINDS)}")
        for name in ("epochs", "batch_size", "width", "latent", "validation_frames"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown GAN loss '{self.loss}'; valid: {', '.join(LOSSES)}")
        if not (0 <= self.ema < 1 and 0 <= self.beta2 < 1 and self.discriminator_lr >= 0):
            raise ConfigError(
                f"need 0 <= ema < 1, 0 <= beta2 < 1, discriminator_lr >= 0; got {self.ema}, "
                f"{self.beta2}, {self.discriminator_lr}"
            )
        if not 0 <= self.instance_noise <= 1:
            raise ConfigError(f"instance_noise must be in [0, 1], got {self.instance_noise}")
        if not 0.5 <= self.real_label <= 1.0:
            raise ConfigError(f"real_label must be in [0.5, 1], got {self.real_label}")
        if self.steps < 0 or self.learning_rate <= 0 or not 0 <= self.beta1 < 1:
            raise ConfigError(
                f"need steps >= 0, learning_rate > 0, 0 <= beta1 < 1; got {self.steps}, "
                f"{self.learning_rate}, {self.beta1}"
            )


def _networks(
    config: GanTrainConfig, height_px: int, width_px: int
) -> tuple[GeneratorSpec, nn.Module, nn.Module]:
    spec = GeneratorSpec(
        config.kind, config.width, height_px=height_px, width_px=width_px, latent=config.latent
    )
    discriminator: nn.Module = (
        PatchDiscriminator(width=config.width)
        if config.kind == "cgan"
        else DcganDiscriminator(
            width=config.width,
            height_px=height_px,
            width_px=width_px,
            spectral_norm=config.spectral_norm,
            minibatch_std=config.minibatch_std,
        )
    )
    return spec, spec.build(), discriminator


def train_gan(
    config: GanTrainConfig,
    data: Sequence[Path],
    validation: Path | None,
    out: Path,
    *,
    resume: bool = False,
    command: str = "",
    on_batch: Callable[[int, int, dict[str, float]], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train as the module docstring says; return the per-epoch history.

    :param data: the training datasets, rendered with the same window.
    :param validation: the validation dataset (other seeds), or None to split off training frames.
    :param command: the command line, recorded in ``card.json``.
    :param on_batch: called as ``on_batch(done, total, losses)`` with batches over the whole run.
    :param on_epoch: called with each epoch's record (losses, validation figures, wall time).
    :raises ConfigError: ``out`` holds a run and ``resume`` is off, or nothing to resume.
    """
    trainer = GanTrainer(
        config,
        data,
        validation,
        out,
        resume=resume,
        command=command,
        on_batch=on_batch,
        on_epoch=on_epoch,
    )
    return trainer.run()


class GanTrainer(EpochTrainer):
    """The hooks of :class:`~perception.trainer.EpochTrainer` for the cGAN and the DCGAN."""

    def __init__(
        self,
        config: GanTrainConfig,
        data: Sequence[Path],
        validation: Path | None,
        out: Path,
        *,
        resume: bool = False,
        command: str = "",
        on_batch: Callable[[int, int, dict[str, float]], None] | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Take the run's settings; :func:`train_gan` documents the parameters."""
        super().__init__(
            out, resume=resume, device=resolve_device(config.device), on_epoch=on_epoch
        )
        self.config = config
        self.data = data
        self.validation = validation
        self.command = command
        self.on_batch = on_batch

    def start(self) -> None:
        """Load the frames (and draw the cgan's layouts); build both networks, their optimisers
        and the generator's moving average."""
        config = self.config
        self.sets = load_gan_data(
            self.data,
            self.validation,
            layouts=config.kind == "cgan",
            validation_frames=config.validation_frames,
        )
        torch.manual_seed(config.seed)
        self.spec, generator, discriminator = _networks(config, *self.sets.images.shape[1:3])
        self.generator, self.discriminator = (
            generator.to(self.device),
            discriminator.to(self.device),
        )
        rates = (config.learning_rate, config.discriminator_lr or config.learning_rate)
        self.optimisers = [
            torch.optim.Adam(network.parameters(), lr=rate, betas=(config.beta1, config.beta2))
            for network, rate in zip((self.generator, self.discriminator), rates, strict=True)
        ]
        self.average = (
            AveragedModel(
                self.generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True
            )
            if config.ema
            else None
        )
        batches = -(-len(self.sets.images) // config.batch_size)
        self.total = config.steps or config.epochs * batches  # batches over the run
        self.kept: nn.Module = self.generator  # what validation scored, set each epoch

    def finished(self, history: Sequence[dict[str, Any]]) -> bool:
        """Whether the run's batches (``steps``, or ``epochs`` passes) are done."""
        return sum(record["steps"] for record in history) >= self.total

    def train_epoch(self, epoch: int, history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """One pass over the frames, cut short at the run's last batch; the mean losses."""
        config, step = self.config, sum(record["steps"] for record in history)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(self.sets.images))
        order = order[: (self.total - step) * config.batch_size]
        noise_std = config.instance_noise * (1 - step / self.total)  # this epoch's, decaying
        losses = self._train_batches(order, step, noise_std)
        record: dict[str, Any] = {"steps": -(-len(order) // config.batch_size)}
        record.update({name: float(np.mean(values)) for name, values in losses.items()})
        return record

    def _train_batches(
        self, order: np.ndarray, step: int, noise_std: float
    ) -> dict[str, list[float]]:
        """One pass over ``order``: a discriminator step, then a generator step, per batch.

        :param order: the frames' indices, in the order they are trained on.
        :param step: batches done before this pass.
        :param noise_std: the instance noise added to what the discriminator judges.
        :return: each loss term's value at every batch.
        """
        config, sets, device = self.config, self.sets, self.device
        generator, discriminator = self.generator, self.discriminator
        generator.train()
        discriminator.train()
        scalers = [torch.amp.GradScaler(enabled=device == "cuda") for _ in self.optimisers]
        losses: dict[str, list[float]] = {}
        for index, start in enumerate(range(0, len(order), config.batch_size)):
            chosen = np.sort(order[start : start + config.batch_size])
            real = images_to_unit(sets.images[chosen], device=device)
            with torch.autocast(device_type=device, enabled=device == "cuda"):
                if config.kind == "cgan":
                    assert sets.layouts is not None
                    layout = layouts_to_unit(sets.layouts[chosen], device=device)
                    fake = generator(layout)

                    def judge(frame: torch.Tensor, layout: torch.Tensor = layout) -> torch.Tensor:
                        return discriminator(layout, frame)
                else:
                    noise = torch.randn(len(chosen), config.latent, device=device)
                    fake = generator(noise)
                    judge = discriminator
                real_logits = judge(_noisy(real, noise_std))
                fake_logits = judge(_noisy(fake.detach(), noise_std))
                judging = discriminator_loss(
                    config.loss, real_logits, fake_logits, real_label=config.real_label
                )
            _step(self.optimisers[1], scalers[1], judging)
            with torch.autocast(device_type=device, enabled=device == "cuda"):
                adversarial = generator_loss(config.loss, judge(_noisy(fake, noise_std)))
                terms = {"discriminator": judging.detach(), "adversarial": adversarial.detach()}
                drawing = adversarial
                if config.kind == "cgan":
                    l1 = (fake.float() - real).abs().mean()
                    drawing = adversarial + config.l1_weight * l1
                    terms["l1"] = l1.detach()
            _step(self.optimisers[0], scalers[0], drawing)
            if self.average is not None:
                self.average.update_parameters(generator)
            values = {name: float(value) for name, value in terms.items()}
            for name, value in values.items():
                losses.setdefault(name, []).append(value)
            if self.on_batch is not None:
                self.on_batch(step + index + 1, self.total, values)
        return losses

    def validate(self, epoch: int) -> dict[str, Any]:
        """The cgan's PSNR and SSIM on the validation layouts, or the dcgan's Frechet distance
        of fixed-noise samples (batch norm recalibrated) to the validation frames."""
        config, sets, device = self.config, self.sets, self.device
        scored = self.generator if self.average is None else self.average.module
        if config.kind == "cgan":
            assert sets.validation_layouts is not None
            self.kept = scored
            generated = generate_frames(scored, sets.validation_layouts, device=device)
            psnr_db, ssim = image_figures(generated, sets.validation_images, device=device)
            return {"validation_psnr_db": psnr_db, "validation_ssim": ssim}
        self.kept = _recalibrated(scored, config, device)
        samples = sample_frames(
            self.kept, len(sets.validation_images), seed=SAMPLE_SEED, device=device
        )
        frechet = frechet_distance(frechet_metric(device=device), sets.validation_images, samples)
        return {"validation_frechet": frechet}

    def write_epoch_files(self, epoch: int) -> None:
        """The epoch's sample grid: ``samples.png`` and ``samples/epoch-NNN.png``."""
        sets, device = self.sets, self.device
        if self.config.kind == "cgan":
            assert sets.validation_layouts is not None
            count = min(SAMPLE_ROWS, len(sets.validation_images))
            chosen = np.linspace(0, len(sets.validation_images) - 1, count).round().astype(int)
            layouts = sets.validation_layouts[chosen]
            generated = generate_frames(self.kept, layouts, device=device)
            rows = [
                np.stack([picture, generated[row], sets.validation_images[chosen[row]]])
                for row, picture in enumerate(layout_picture(layouts))
            ]
        else:
            samples = sample_frames(self.kept, 8, seed=SAMPLE_SEED, device=device)
            rows = [samples[:4], samples[4:]]
        encoded = iio.imwrite("<bytes>", image_grid(rows), extension=".png")
        for path in (self.out / "samples" / f"epoch-{epoch + 1:03d}.png", self.out / "samples.png"):
            with atomic_path(path) as temporary:
                temporary.write_bytes(encoded)

    def is_best(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> bool:
        """Whether the epoch of ``record`` is the best so far: the highest validation PSNR (cgan),
        the lowest validation Frechet distance on our perception features (dcgan; GAN training
        oscillates, so the last epoch is often not the best). Epochs without the figure (a run
        resumed from before it was recorded) do not compete."""
        cgan = self.config.kind == "cgan"
        key = "validation_psnr_db" if cgan else "validation_frechet"
        sign = 1.0 if cgan else -1.0
        scores = [sign * r[key] for r in history if key in r]
        return sign * record[key] >= max(scores)

    def card(self, record: dict[str, Any], history: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The command, the datasets, the machine, the settings, then the kept epoch's record."""
        return {
            "command": self.command,
            "datasets": {str(folder): _dataset_command(folder) for folder in self.data},
            "validation": self.sets.validation_source,
            "machine": machine_description(),
            "config": asdict(self.config),
            "generator": asdict(self.spec),
            "training_frames": len(self.sets.images),
            "validation_frames": len(self.sets.validation_images),
            "train_wall_s": round(sum(r["wall_s"] for r in history), 1),
            "epochs_run": len(history),
            "kept": record,
        }

    def write_best_weights(self, path: Path) -> None:
        """The scored generator in fp16, its spec in the metadata (:func:`save_generator`)."""
        save_generator(self.kept, self.spec, path)

    def resumable_state(self) -> dict[str, Any]:
        """Both networks, both optimisers, torch's random state, the average and the config."""
        self.generator.train()
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimisers": [optimiser.state_dict() for optimiser in self.optimisers],
            "torch_rng": torch.get_rng_state(),
            "average": self.average.state_dict() if self.average is not None else {},
            "config": asdict(self.config),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Load what :meth:`resumable_state` saved, torch's random state included."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        for optimiser, saved in zip(self.optimisers, state["optimisers"], strict=True):
            optimiser.load_state_dict(saved)
        torch.set_rng_state(state["torch_rng"])
        if self.average is not None:
            self.average.load_state_dict(state["average"])


def _noisy(frames: torch.Tensor, std: float) -> torch.Tensor:
    """``frames`` with instance noise of ``std`` (unchanged at 0)."""
    return frames + std * torch.randn_like(frames) if std > 0 else frames


@torch.no_grad()
def _recalibrated(generator: nn.Module, config: GanTrainConfig, device: str) -> nn.Module:
    """A copy of the DCGAN generator whose batch-norm statistics are the plain average over
    ``CALIBRATION_BATCHES`` batches of fixed noise through its final weights, so that eval-mode
    samples match the train-mode ones the discriminator judged (not a blend of recent weights)."""
    calibrated = copy.deepcopy(generator).train()
    noise = torch.randn(
        CALIBRATION_BATCHES,
        config.batch_size,
        config.latent,
        generator=torch.Generator().manual_seed(SAMPLE_SEED),
    )
    for module in calibrated.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # a cumulative average
    for batch in noise:
        calibrated(batch.to(device))
    return calibrated.eval()


def _step(
    optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor
) -> None:
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimiser)
    scaler.update()


def _dataset_command(folder: Path) -> str:
    """The ``drive dataset`` command that wrote ``folder``, from its manifest."""
    config = json.loads((folder / MANIFEST).read_text())["config"]
    return (
        f"drive dataset --out {folder} --scenario {config['scenario']} --episodes "
        f"{config['episodes']} --episodes-per-shard {config['episodes_per_shard']} --seed "
        f"{config['seed']} --sample-every-steps {config['sample_every_steps']}"
    )
