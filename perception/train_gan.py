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
import time
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
    WEIGHTS_FILE,
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
from perception.vision_data import GanData, load_gan_data
from sims.dataset import MANIFEST
from sims.files import atomic_path, save_torch, write_json
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
    device = resolve_device(config.device)
    last = out / "last.pt"
    if resume and not last.exists():
        raise ConfigError(f"{out}: nothing to resume (no {last.name})")
    if not resume and last.exists():
        raise ConfigError(f"{out} already holds a run; pass --resume or choose another --out")
    sets = load_gan_data(
        data,
        validation,
        layouts=config.kind == "cgan",
        validation_frames=config.validation_frames,
    )
    torch.manual_seed(config.seed)
    spec, generator, discriminator = _networks(config, *sets.images.shape[1:3])
    generator, discriminator = generator.to(device), discriminator.to(device)
    rates = (config.learning_rate, config.discriminator_lr or config.learning_rate)
    optimisers = [
        torch.optim.Adam(network.parameters(), lr=rate, betas=(config.beta1, config.beta2))
        for network, rate in zip((generator, discriminator), rates, strict=True)
    ]
    average = (
        AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
        if config.ema
        else None
    )
    batches = -(-len(sets.images) // config.batch_size)
    total = config.steps or config.epochs * batches
    history: list[dict[str, Any]] = []
    if resume:
        state = torch.load(last, map_location=device, weights_only=True)
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        for optimiser, saved in zip(optimisers, state["optimisers"], strict=True):
            optimiser.load_state_dict(saved)
        torch.set_rng_state(state["torch_rng"])
        history = state["history"]
        if average is not None:
            average.load_state_dict(state["average"])
    out.mkdir(parents=True, exist_ok=True)
    step = sum(record["steps"] for record in history)
    while step < total:
        started = time.perf_counter()
        epoch = len(history)
        order = np.random.default_rng([config.seed, epoch]).permutation(len(sets.images))
        order = order[: (total - step) * config.batch_size]

        def report(done: int, losses: dict[str, float], start: int = step) -> None:
            if on_batch is not None:
                on_batch(start + done, total, losses)

        noise_std = config.instance_noise * (1 - step / total)  # this epoch's, decaying
        losses = _train_epoch(
            config,
            (generator, discriminator, average),
            optimisers,
            sets,
            order,
            device,
            report,
            noise_std,
        )
        step += -(-len(order) // config.batch_size)
        record: dict[str, Any] = {"epoch": epoch + 1, "steps": -(-len(order) // config.batch_size)}
        record.update({name: float(np.mean(values)) for name, values in losses.items()})
        scored = generator if average is None else average.module  # what is kept
        if config.kind == "cgan":
            assert sets.validation_layouts is not None
            generated = generate_frames(scored, sets.validation_layouts, device=device)
            psnr_db, ssim = image_figures(generated, sets.validation_images, device=device)
            record.update(validation_psnr_db=psnr_db, validation_ssim=ssim)
        kept = scored if config.kind == "cgan" else _recalibrated(scored, config, device)
        if config.kind == "dcgan":
            samples = sample_frames(
                kept, len(sets.validation_images), seed=SAMPLE_SEED, device=device
            )
            record["validation_frechet"] = frechet_distance(
                frechet_metric(device=device), sets.validation_images, samples
            )
        record["wall_s"] = round(time.perf_counter() - started, 1)
        history.append(record)
        _write_samples(config, kept, sets, out, epoch + 1, device)
        if _is_best(record, history, config.kind):
            card = _card(config, spec, data, sets, history, record, command, device)
            save_generator(kept, spec, out / WEIGHTS_FILE)
            write_json(out / "card.json", card, allow_nan=True)
        generator.train()
        save_torch(
            {
                "generator": generator.state_dict(),
                "discriminator": discriminator.state_dict(),
                "optimisers": [optimiser.state_dict() for optimiser in optimisers],
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "average": average.state_dict() if average is not None else {},
                "config": asdict(config),
            },
            last,
        )
        if on_epoch is not None:
            on_epoch(record)
    return history


def _train_epoch(
    config: GanTrainConfig,
    networks: tuple[nn.Module, nn.Module, AveragedModel | None],
    optimisers: Sequence[torch.optim.Optimizer],
    sets: GanData,
    order: np.ndarray,
    device: str,
    report: Callable[[int, dict[str, float]], None],
    noise_std: float = 0.0,
) -> dict[str, list[float]]:
    """One pass over ``order``: a discriminator step, then a generator step, per batch.

    :param networks: the generator, the discriminator and the generator's moving average (or None).
    :param noise_std: the instance noise added to what the discriminator judges.
    """
    generator, discriminator, average = networks
    generator.train()
    discriminator.train()
    scalers = [torch.amp.GradScaler(enabled=device == "cuda") for _ in optimisers]
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
        _step(optimisers[1], scalers[1], judging)
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            adversarial = generator_loss(config.loss, judge(_noisy(fake, noise_std)))
            terms = {
                "discriminator": judging.detach(),
                "adversarial": adversarial.detach(),
            }
            drawing = adversarial
            if config.kind == "cgan":
                l1 = (fake.float() - real).abs().mean()
                drawing = adversarial + config.l1_weight * l1
                terms["l1"] = l1.detach()
        _step(optimisers[0], scalers[0], drawing)
        if average is not None:
            average.update_parameters(generator)
        values = {name: float(value) for name, value in terms.items()}
        for name, value in values.items():
            losses.setdefault(name, []).append(value)
        report(index + 1, values)
    return losses


def _is_best(record: dict[str, Any], history: list[dict[str, Any]], kind: str) -> bool:
    """Whether the epoch of ``record`` is the best so far: the highest validation PSNR (cgan),
    the lowest validation Frechet distance on our perception features (dcgan; GAN training
    oscillates, so the last epoch is often not the best). Epochs without the figure (a run
    resumed from before it was recorded) do not compete."""
    key = "validation_psnr_db" if kind == "cgan" else "validation_frechet"
    sign = 1.0 if kind == "cgan" else -1.0
    scores = [sign * r[key] for r in history if key in r]
    return sign * record[key] >= max(scores)


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


def _write_samples(
    config: GanTrainConfig, generator: nn.Module, sets: GanData, out: Path, epoch: int, device: str
) -> None:
    """The epoch's sample grid: ``samples.png`` and ``samples/epoch-NNN.png``."""
    if config.kind == "cgan":
        assert sets.validation_layouts is not None
        count = min(SAMPLE_ROWS, len(sets.validation_images))
        chosen = np.linspace(0, len(sets.validation_images) - 1, count).round().astype(int)
        layouts = sets.validation_layouts[chosen]
        generated = generate_frames(generator, layouts, device=device)
        rows = [
            np.stack([picture, generated[row], sets.validation_images[chosen[row]]])
            for row, picture in enumerate(layout_picture(layouts))
        ]
    else:
        samples = sample_frames(generator, 8, seed=SAMPLE_SEED, device=device)
        rows = [samples[:4], samples[4:]]
    encoded = iio.imwrite("<bytes>", image_grid(rows), extension=".png")
    for path in (out / "samples" / f"epoch-{epoch:03d}.png", out / "samples.png"):
        with atomic_path(path) as temporary:
            temporary.write_bytes(encoded)


def _card(
    config: GanTrainConfig,
    spec: GeneratorSpec,
    data: Sequence[Path],
    sets: GanData,
    history: list[dict[str, Any]],
    record: dict[str, Any],
    command: str,
    device: str,
) -> dict[str, Any]:
    return {
        "command": command,
        "datasets": {str(folder): _dataset_command(folder) for folder in data},
        "validation": sets.validation_source,
        "machine": machine_description(),
        "config": asdict(config),
        "generator": asdict(spec),
        "training_frames": len(sets.images),
        "validation_frames": len(sets.validation_images),
        "train_wall_s": round(sum(r["wall_s"] for r in history), 1),
        "epochs_run": len(history),
        "kept": record,
    }


def _dataset_command(folder: Path) -> str:
    """The ``drive dataset`` command that wrote ``folder``, from its manifest."""
    config = json.loads((folder / MANIFEST).read_text())["config"]
    return (
        f"drive dataset --out {folder} --scenario {config['scenario']} --episodes "
        f"{config['episodes']} --episodes-per-shard {config['episodes_per_shard']} --seed "
        f"{config['seed']} --sample-every-steps {config['sample_every_steps']}"
    )
