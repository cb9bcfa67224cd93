"""The control commands: ``drive train-dynamics`` (``drive bench control`` lives in cli_bench).

They are registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from drive.cli.options import RESUME, config_command, extra_option
from drive.cli.progress import progress_bar
from drive.training.train_dynamics import DynamicsTrainConfig

console = Console()

TRAIN_DYNAMICS_EXTRAS = [
    extra_option("data", Path, "Training dataset (drive dataset --dynamics --out)."),
    extra_option("validation", Path, "Validation dataset of the same car, other seeds."),
    extra_option("out", Path, "Folder of the run: best.safetensors, card.json, last.pt."),
    RESUME,
]


@config_command(DynamicsTrainConfig, extra=TRAIN_DYNAMICS_EXTRAS)
def train_dynamics_command(
    config: DynamicsTrainConfig, *, data: Path, validation: Path, out: Path, resume: bool
) -> None:
    """Fit the learned bicycle (lags, wheelbase, steering bias) to the car's logged driving."""
    from drive.training.train_dynamics import DynamicsTrainer

    with progress_bar(console, "epochs", remaining=True) as progress:
        task = progress.add_task("epochs", total=config.epochs)

        def on_epoch(record: dict) -> None:
            progress.update(task, completed=record["epoch"])
            progress.console.print(
                f"epoch {record['epoch']:>3}: loss {record['train_loss']:.4f} / "
                f"{record['validation_loss']:.4f} (nominal {record['nominal_validation_loss']:.4f}); "
                f"lags {record['acceleration_lag_s']:.3f} s, {record['steering_lag_s']:.3f} s, "
                f"wheelbase x{record['wheelbase_scale']:.3f}, bias {record['steering_bias_rad']:.4f} rad",
                highlight=False,
            )

        history = DynamicsTrainer(
            config, data, validation, out, resume=resume, on_epoch=on_epoch
        ).run()
    best = min(history, key=lambda record: record["validation_loss"])
    console.print(f"Best weights: {out / 'best.safetensors'} (epoch {best['epoch']})")
