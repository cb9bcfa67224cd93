"""The detector commands: ``drive train-detector`` and ``drive detect``.

They are registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from drive.cli.progress import progress_bar
from sims.strict import ConfigError

console = Console()

SHIPPED_DETECTOR = Path(__file__).parent.parent / "perception" / "weights" / "detector"


def train_detector_command(
    data: Annotated[
        list[Path], typer.Option(help="Training dataset (drive dataset --out); repeat for more.")
    ],
    validation: Annotated[
        Path, typer.Option(help="Validation dataset of other episodes; picks the best epoch.")
    ],
    out: Annotated[Path, typer.Option(help="Folder of the run: weights, card, TensorBoard.")],
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training frames.")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per step.")] = 16,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="AdamW's peak rate.")] = 2e-3,
    width_mult: Annotated[
        float, typer.Option(min=0.1, max=2.0, help="MobileNetV3's channel multiplier.")
    ] = 0.5,
    fpn_channels: Annotated[int, typer.Option(min=8, help="Channels of the FPN levels.")] = 32,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
) -> None:
    """Train the Faster R-CNN vehicle detector from scratch on rendered frames; keep the best."""
    from perception.detector import DetectorConfig
    from perception.train_detector import DetectorTrainConfig, train_detector
    from sims.machine import machine_description

    config = DetectorTrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        detector=DetectorConfig(width_mult=width_mult, fpn_channels=fpn_channels),
        seed=seed,
        device=device,
    )
    # The command is built from the run's settings, not sys.argv (a test runner's, when the
    # command is invoked from Python).
    words = ["drive", "train-detector"]
    for folder in data:
        words += ["--data", str(folder)]
    words += ["--validation", str(validation), "--out", str(out), "--epochs", str(epochs)]
    words += ["--batch-size", str(batch_size), "--learning-rate", f"{learning_rate:g}"]
    words += ["--width-mult", f"{width_mult:g}", "--fpn-channels", str(fpn_channels)]
    words += ["--device", device, "--seed", str(seed)] + ["--resume"] * resume
    card_extra = {"command": shlex.join(words), "machine": machine_description()}
    with progress_bar(console, "batches", status=True, remaining=True) as progress:
        task = progress.add_task("batches", total=None, status="")
        validation_map50 = ["-"]

        def on_batch(done: int, total: int, loss: float) -> None:
            status = f"loss {loss:.3f}, validation mAP50 {validation_map50[0]}"
            progress.update(task, completed=done, total=total, status=status)

        def on_epoch(record: dict[str, Any]) -> None:
            validation_map50[0] = f"{record['validation_map50']:.3f}"
            progress.update(
                task,
                status=f"loss {record['train_loss']:.3f}, validation mAP50 {validation_map50[0]}",
            )
            progress.console.print(
                f"epoch {record['epoch']:>3}: loss {record['train_loss']:.3f}, validation "
                f"mAP50 {record['validation_map50']:.3f}, mAP {record['validation_map']:.3f} "
                f"({record['wall_s']:.0f} s)",
                highlight=False,
            )

        try:
            history = train_detector(
                config,
                data,
                validation,
                out,
                resume=resume,
                card_extra=card_extra,
                on_batch=on_batch,
                on_epoch=on_epoch,
            )
        except KeyboardInterrupt:
            progress.console.print(
                f"interrupted: {out / 'last.pt'} holds the finished epochs; add --resume to go on"
            )
            raise typer.Exit(130) from None
    best = max(history, key=lambda r: (r["validation_map50"], r["validation_map"]))
    console.print(f"Best weights: {out / 'best.safetensors'} (epoch {best['epoch']})")


def detect_command(
    video: Annotated[Path, typer.Option(help="The mp4 to read (drive rollout --video...).")],
    out: Annotated[Path, typer.Option(help="The mp4 to write, with boxes and scores drawn.")],
    weights: Annotated[
        Path, typer.Option(help="Folder of trained weights (best.safetensors, card.json).")
    ] = SHIPPED_DETECTOR,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Draw boxes scoring at least this.")
    ] = 0.5,
    px_per_m: Annotated[
        float | None,
        typer.Option(
            help="The video's scale [px/m]; frames are resized to the detector's own (its card). "
            "`drive rollout --video` and `drive demo` show highway-env's view at 5.5 px/m, or "
            "the camera's 2 px/m with --perception cnn. Default: the detector's scale."
        ),
    ] = None,
    skip_top_px: Annotated[
        int,
        typer.Option(
            min=0,
            help="Rows at the top the detector leaves out: 24 for the banner of `drive rollout "
            "--video` and `drive demo`.",
        ),
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per forward pass.")] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Find the vehicles in a bird's-eye video with the trained detector; write it with boxes."""
    from perception.detector import detect_video, detector_spec, load_detector
    from perception.device import resolve_device

    if not video.is_file():  # before the weights load, which takes a while
        raise ConfigError(f"{video}: no such video file")
    resolved = resolve_device(device)
    spec = detector_spec(weights)
    model = load_detector(weights, device=resolved)
    scale = (px_per_m or spec.scaling_px_per_m) / spec.scaling_px_per_m
    with progress_bar(console, "frames", status=True) as progress:
        task = progress.add_task("frames", total=None, status="")

        def on_frames(done: int, total: int | None, found: int) -> None:
            progress.update(task, completed=done, total=total, status=f"{found} boxes drawn")

        summary = detect_video(
            model,
            video,
            out,
            scale=scale,
            threshold=threshold,
            batch_size=batch_size,
            device=resolved,
            skip_top_px=skip_top_px,
            on_frames=on_frames,
        )
    console.print(
        f"Wrote {out}: {summary.frames} frames, {summary.boxes} boxes at score >= {threshold} "
        f"({summary.boxes / max(summary.frames, 1):.1f} a frame)"
    )
