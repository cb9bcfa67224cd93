"""The vision commands that use the trained models together: ``drive synthesize`` and
``drive bench vision``. Training is ``drive train-detector`` and ``drive train-gan``.

They are registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli.progress import progress_bar
from perception.detector import SHIPPED_DETECTOR
from perception.device import resolve_device
from perception.gan import CGAN_WEIGHTS, DCGAN_WEIGHTS
from sims.files import write_json

console = Console()

# The held-out frames of `drive bench vision`: seeds no training or validation set uses.
HELD_OUT_DATA = Path("data/vision-test")
HELD_OUT_COMMAND = (
    "drive dataset --out data/vision-test --episodes 8 --episodes-per-shard 2 --seed 96000"
)


def synthesize_command(
    source: Annotated[
        Path, typer.Option("--from", help="Dataset whose states are drawn (drive dataset --out).")
    ],
    out: Annotated[Path, typer.Option(help="Folder of the synthetic dataset.")],
    weights: Annotated[Path, typer.Option(help="Folder of the cGAN.")] = CGAN_WEIGHTS,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
) -> None:
    """A perception dataset with the labels of --from and frames drawn by the cGAN from layouts."""
    from drive.runs.synthesize import source_config, synthesize

    chosen = resolve_device(device)
    shards = source_config(source).shards
    with progress_bar(console, "cGAN frames, shards") as bar:
        task = bar.add_task("synthesize", total=shards)
        synthesize(
            source,
            out,
            weights=weights,
            device=chosen,
            on_shard=lambda shard, total: bar.update(task, completed=shard + 1),
        )
    console.print(f"Wrote {out} (frames drawn by {weights} on {chosen}).")


def bench_vision(
    data: Annotated[
        list[Path] | None,
        typer.Option(help="Held-out frames with scene records (drive dataset --out); repeatable."),
    ] = None,
    json_path: Annotated[Path, typer.Option("--json", help="Write the figures here.")] = Path(
        "out/bench-vision.json"
    ),
    detector: Annotated[Path, typer.Option(help="Folder of the detector.")] = SHIPPED_DETECTOR,
    cgan: Annotated[Path, typer.Option(help="Folder of the cGAN.")] = CGAN_WEIGHTS,
    dcgan: Annotated[Path, typer.Option(help="Folder of the DCGAN.")] = DCGAN_WEIGHTS,
    reference: Annotated[
        Path | None,
        typer.Option(help="Real frames of other episodes to score too (e.g. data/vision-train)."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
) -> None:
    """Detector mAP, cGAN PSNR/SSIM and Frechet distances on held-out frames; JSON, table, picture."""
    from drive.bench.bench_vision import plot_examples, run_vision_bench
    from drive.cli.report import vision_bench_table
    from sims.strict import ConfigError

    data = data or [HELD_OUT_DATA]
    for folder in data:
        if not (folder / "manifest.json").exists():
            raise ConfigError(
                f"{folder}: no held-out frames (no manifest.json); make them with `drive dataset`, "
                f"e.g. `{HELD_OUT_COMMAND}`"
            )
    if reference is not None and not (reference / "manifest.json").exists():
        raise ConfigError(f"{reference}: no dataset there (no manifest.json); see `drive dataset`")
    chosen = resolve_device(device)
    with progress_bar(console) as bar:
        task = bar.add_task("loading", total=None)
        document, frames, generated = run_vision_bench(
            data,
            device=chosen,
            detector=detector,
            cgan=cgan,
            dcgan=dcgan,
            reference=reference,
            on_stage=lambda stage: bar.update(task, description=stage),
        )
    write_json(json_path, document)
    picture = plot_examples(
        frames, generated, detector, json_path.with_name(json_path.stem + "-examples.png")
    )
    console.print(vision_bench_table(document))
    console.print(f"Machine: {document['machine']}. Wrote {json_path}, {picture}")
