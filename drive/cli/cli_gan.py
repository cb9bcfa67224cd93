"""The ``drive train-gan`` command: a pix2pix layout-to-frame GAN or a DCGAN of frames.

It is registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from drive.cli.progress import progress_bar

console = Console()


def _describe(record: dict[str, Any]) -> str:
    """One epoch's line: losses, and the validation figures of a cgan."""
    text = (
        f"epoch {record['epoch']:>3}: D {record['discriminator']:.3f}, "
        f"G adversarial {record['adversarial']:.3f}"
    )
    if "l1" in record:
        text += (
            f", L1 {record['l1']:.4f}, validation PSNR {record['validation_psnr_db']:.2f} dB, "
            f"SSIM {record['validation_ssim']:.4f}"
        )
    return text + f" ({record['wall_s']:.0f} s)"


def train_gan_command(
    kind: Annotated[str, typer.Option(help="cgan (layout to frame, pix2pix) or dcgan.")],
    data: Annotated[
        list[Path], typer.Option(help="Training dataset (drive dataset --out); repeat for more.")
    ],
    out: Annotated[Path, typer.Option(help="Folder of the run: weights, card, samples, last.pt.")],
    validation: Annotated[
        Path | None,
        typer.Option(help="Validation dataset, other seeds (default: the last tenth of --data)."),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training frames.")] = 10,
    steps: Annotated[
        int, typer.Option(min=0, help="Batches in all, instead of --epochs (0: use --epochs).")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per step.")] = 16,
    width: Annotated[int, typer.Option(min=1, help="Channels of the outermost layers.")] = 16,
    l1_weight: Annotated[float, typer.Option(min=0.0, help="cgan: weight of the L1 term.")] = 100.0,
    real_label: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="Discriminator target for real frames.")
    ] = 1.0,
    instance_noise: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Noise on the discriminator's input, decaying to 0."),
    ] = 0.0,
    spectral_norm: Annotated[
        bool, typer.Option("--spectral-norm", help="dcgan: spectral norm in the discriminator.")
    ] = False,
    minibatch_std: Annotated[
        bool,
        typer.Option("--minibatch-std", help="dcgan: the discriminator sees the batch's spread."),
    ] = False,
    loss: Annotated[str, typer.Option(help="bce (non-saturating) or hinge.")] = "bce",
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Adam's rate (generator).")] = 2e-4,
    discriminator_lr: Annotated[
        float, typer.Option(min=0.0, help="The discriminator's rate (0: --learning-rate).")
    ] = 0.0,
    beta1: Annotated[float, typer.Option(min=0.0, max=0.999, help="Adam's beta1.")] = 0.5,
    beta2: Annotated[float, typer.Option(min=0.0, max=0.9999, help="Adam's beta2.")] = 0.999,
    ema: Annotated[
        float, typer.Option(min=0.0, max=0.9999, help="Decay of the kept generator's average.")
    ] = 0.0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
) -> None:
    """Train a GAN of rendered frames; keep the generator as safetensors with a card."""
    from perception.train_gan import GanTrainConfig, train_gan

    config = GanTrainConfig(
        kind=kind,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        width=width,
        l1_weight=l1_weight,
        real_label=real_label,
        instance_noise=instance_noise,
        spectral_norm=spectral_norm,
        minibatch_std=minibatch_std,
        loss=loss,
        learning_rate=learning_rate,
        discriminator_lr=discriminator_lr,
        beta1=beta1,
        beta2=beta2,
        ema=ema,
        seed=seed,
        device=device,
    )
    # The card records the run as a command built from its settings (not from sys.argv, which is
    # someone else's when the command is invoked from Python or a test runner).
    words = ["drive", "train-gan", "--kind", kind]
    for folder in data:
        words += ["--data", str(folder)]
    if validation is not None:
        words += ["--validation", str(validation)]
    words += ["--out", str(out)]
    words += ["--steps", str(steps)] if steps else ["--epochs", str(epochs)]
    words += ["--batch-size", str(batch_size), "--width", str(width)]
    defaults = {"--l1-weight": (l1_weight, 100.0), "--real-label": (real_label, 1.0)}
    defaults["--instance-noise"] = (instance_noise, 0.0)
    defaults |= {"--learning-rate": (learning_rate, 2e-4), "--beta1": (beta1, 0.5)}
    defaults |= {"--discriminator-lr": (discriminator_lr, 0.0), "--beta2": (beta2, 0.999)}
    defaults["--ema"] = (ema, 0.0)
    for option, (value, default) in defaults.items():
        if value != default:
            words += [option, f"{value:g}"]
    words += ["--loss", loss] * (loss != "bce")
    words += ["--spectral-norm"] * spectral_norm + ["--minibatch-std"] * minibatch_std
    words += ["--device", device, "--seed", str(seed)] + ["--resume"] * resume
    command = shlex.join(words)
    with progress_bar(console, "batches", status=True, remaining=True) as progress:
        task = progress.add_task("batches", total=None, status="loading frames")
        history = train_gan(
            config,
            data,
            validation,
            out,
            resume=resume,
            command=command,
            on_batch=lambda done, total, losses: progress.update(
                task,
                completed=done,
                total=total,
                status=" ".join(f"{name} {value:.3f}" for name, value in losses.items()),
            ),
            on_epoch=lambda record: progress.console.print(_describe(record), highlight=False),
        )
    if kind == "cgan" and history:
        best = max(history, key=lambda record: record["validation_psnr_db"])
        console.print(f"Best generator: {out / 'best.safetensors'} (epoch {best['epoch']})")
    else:
        console.print(f"Generator: {out / 'best.safetensors'}; samples: {out / 'samples.png'}")
