"""The perception commands: ``drive dataset``, ``drive train-perception``, ``drive bench perception``.

They are registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from drive.cli.options import RESUME, RayAddress, config_command, extra_option
from drive.cli.progress import progress_bar
from perception.train import PerceptionTrainConfig
from sims.files import write_json
from sims.strict import ConfigError

if TYPE_CHECKING:
    from sims.parallel import Workers

console = Console()

SHIPPED_WEIGHTS = Path(__file__).parent.parent / "perception" / "weights" / "stn-cnn"
# The held-out frames of `drive bench perception`: seeds that no training or validation set of
# the project uses (training 0.., 1000..; validation, which picks the best epoch, 90000..).
HELD_OUT_SEED = 95000
HELD_OUT_EPISODES = 8


def dataset(
    out: Annotated[Path, typer.Option(help="Folder of the dataset: shards and manifest.json.")],
    scenario: Annotated[str, typer.Option(help="A scenario id (any road).")] = "highway",
    episodes: Annotated[int, typer.Option(min=1, help="Episodes to drive.")] = 100,
    episodes_per_shard: Annotated[int, typer.Option(min=1, help="Episodes per shard.")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first episode.")] = 0,
    sample_every_steps: Annotated[
        int, typer.Option(min=1, help="Simulation steps between samples (15 Hz).")
    ] = 15,
    variation: Annotated[
        str,
        typer.Option(
            help="How frames are drawn, per episode: none, train (zoom, colours, brightness, "
            "blur, noise), colours (vehicles' and road's only) or unseen-colours "
            "(sims/render_variation.py)."
        ),
    ] = "none",
    frame_width_px: Annotated[
        int | None,
        typer.Option(
            min=8,
            help="The rendered window's length in pixels at 2 px/m, centred on the ego, a "
            "multiple of 8 (the network's cell); default 256: 64 m ahead and behind.",
        ),
    ] = None,
    min_turn_deg: Annotated[
        float,
        typer.Option(
            help="Keep only stacks that start with a vehicle in view turned at least this many "
            "degrees from the ego's heading (lane changers); 0: every stack.",
        ),
    ] = 0.0,
    dynamics: Annotated[
        bool,
        typer.Option(
            "--dynamics",
            help="Log state, command and next state of the ego driving the scenario's road "
            "emptied, with excitation (for drive train-dynamics), instead of frames.",
        ),
    ] = False,
    plant: Annotated[
        str | None, typer.Option(help="The car (sims/plants.py); default: the scenario's.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    ray: RayAddress = None,
) -> None:
    """Rendered frame stacks around the ego with exact labels, for perception (resumes in --out);
    with --dynamics, the car's own driving, for its dynamics model."""
    from drive.runs.frame_dataset import generate
    from perception.cnn import CELL_PX
    from sims.dataset import DatasetConfig, FrameSpec
    from sims.parallel import Workers

    if min_turn_deg and dynamics:
        raise ConfigError(
            f"--min-turn-deg {min_turn_deg:g} applies to frame datasets, not --dynamics"
        )
    if dynamics:
        _dynamics_dataset(out, scenario, episodes, seed, plant, Workers(workers, ray))
        return
    if plant is not None:
        raise ConfigError("--plant applies to --dynamics datasets; frames use the scenario's car")
    if frame_width_px is not None and frame_width_px % CELL_PX:
        raise ConfigError(
            f"--frame-width-px must be a multiple of {CELL_PX} (the network's cell), "
            f"got {frame_width_px}"
        )

    config = DatasetConfig(
        scenario=scenario,
        episodes=episodes,
        episodes_per_shard=episodes_per_shard,
        seed=seed,
        sample_every_steps=sample_every_steps,
        variation=variation,
        min_turn_deg=min_turn_deg,
        frames=FrameSpec() if frame_width_px is None else FrameSpec(width_px=frame_width_px),
    )
    with progress_bar(console, "episodes", remaining=True) as progress:
        task = progress.add_task("episodes", total=episodes)
        store = generate(
            config,
            out,
            on_episode=lambda seed: progress.advance(task),
            workers=Workers(workers, ray),
        )
    samples = sum(entry["samples"] for entry in store.manifest["shards"])
    console.print(f"{samples} samples in {len(store.manifest['shards'])} shards: {out}")


def _dynamics_dataset(
    out: Path, scenario: str, episodes: int, seed: int, plant: str | None, workers: Workers
) -> None:
    """``drive dataset --dynamics``: :mod:`drive.runs.dynamics_dataset`."""
    from drive.runs.dynamics_dataset import DynamicsDatasetConfig, generate_dynamics
    from sims.scenario import load_scenario

    config = DynamicsDatasetConfig(
        plant=plant or load_scenario(scenario).plant,
        scenario=scenario,
        episodes=episodes,
        seed=seed,
    )
    with progress_bar(console, "episodes", remaining=True) as progress:
        task = progress.add_task("episodes", total=episodes)
        paths = generate_dynamics(
            config, out, on_episode=lambda seed: progress.advance(task), workers=workers
        )
    console.print(f"{len(paths)} episodes on plant '{config.plant}': {out}")


TRAIN_PERCEPTION_EXTRAS = [
    extra_option("data", list[Path], "Training dataset (drive dataset --out); repeat for more."),
    extra_option("validation", list[Path], "Validation dataset, other seeds; repeat for more."),
    extra_option("out", Path, "Folder of the run: weights, card, TensorBoard."),
    RESUME,
]


@config_command(PerceptionTrainConfig, extra=TRAIN_PERCEPTION_EXTRAS)
def train_perception_command(
    config: PerceptionTrainConfig,
    *,
    data: list[Path],
    validation: list[Path],
    out: Path,
    resume: bool,
) -> None:
    """Train the CNN + spatial-transformer perception on rendered frames; keep the best weights."""
    from perception.train import selection_key, train_perception

    with progress_bar(console, "batches", remaining=True) as progress:
        task = progress.add_task("batches", total=None)
        history = train_perception(
            config,
            data,
            validation,
            out,
            resume=resume,
            on_batch=lambda done, total: progress.update(task, completed=done, total=total),
            on_epoch=lambda record: progress.console.print(
                f"epoch {record['epoch']:>3}: loss {record['train_loss']:.3f} / "
                f"{record['validation_loss']:.3f}, position {record['position_mae_m']:.2f} m, "
                f"presence F1 {record['presence_f1']:.3f}, occupancy IoU "
                f"{record['occupancy_iou']:.3f}",
                highlight=False,
            ),
        )
    best = min(history, key=lambda record: selection_key(record, config.select))
    console.print(f"Best weights: {out / 'best.safetensors'} (epoch {best['epoch']})")


def bench_perception(
    weights: Annotated[
        Path, typer.Option(help="Folder of trained weights (best.safetensors, card.json).")
    ] = SHIPPED_WEIGHTS,
    data: Annotated[
        Path,
        typer.Option(help="Held-out frames (drive dataset --out); generated there if missing."),
    ] = Path("data/highway-test"),
    json_path: Annotated[Path, typer.Option("--json", help="Write the figures here.")] = Path(
        "out/bench-perception.json"
    ),
    robustness: Annotated[
        bool, typer.Option(help="Also measure under attacks and rendering changes (slower).")
    ] = True,
    seconds: Annotated[
        float, typer.Option(min=0.01, help="Timing per throughput figure [s].")
    ] = 3.0,
    roads: Annotated[
        Path | None,
        typer.Option(
            help="Instead: a folder of held-out datasets, one per road; F1 per road and render "
            "variation in one table (docs/experiments/perception_roads_data.sh)."
        ),
    ] = None,
    unseen_colours: Annotated[
        Path | None,
        typer.Option(
            help="With --roads: the same roads drawn in vehicle colours never trained on."
        ),
    ] = None,
) -> None:
    """Perception errors, throughput and robustness on held-out frames; JSON, table and pictures."""
    from drive.bench.bench_perception import plot_example, plot_robustness, run_perception_bench
    from drive.cli.report import perception_bench_table

    if roads is not None:
        _bench_roads(weights, roads, unseen_colours, json_path)
        return

    if not (data / "manifest.json").exists():
        from perception.camera import card_frames

        console.print(f"No held-out frames in {data}: generating them (seeds {HELD_OUT_SEED}+).")
        dataset(
            out=data,
            episodes=HELD_OUT_EPISODES,
            episodes_per_shard=4,
            seed=HELD_OUT_SEED,
            frame_width_px=card_frames(weights).width_px,  # the window the network reads
        )
    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading")
        document, held_out, network = run_perception_bench(
            weights,
            data,
            robustness=robustness,
            seconds=seconds,
            on_stage=lambda stage: bar.update(task, description=stage),
        )
    write_json(json_path, document)
    pictures = [plot_example(network, held_out, json_path.with_name(json_path.stem + "-frame.png"))]
    if robustness:
        pictures.append(
            plot_robustness(document, json_path.with_name(json_path.stem + "-robustness.png"))
        )
    console.print(perception_bench_table(document))
    console.print(
        f"Machine: {document['machine']}. Wrote {json_path}, "
        + ", ".join(str(path) for path in pictures)
    )


def _bench_roads(weights: Path, roads: Path, unseen_colours: Path | None, json_path: Path) -> None:
    """``drive bench perception --roads``: one table of F1 per road and render variation."""
    from drive.bench.bench_perception import _json_safe
    from drive.bench.bench_perception_roads import roads_table, run_roads_bench
    from sims.strict import ConfigError

    if not roads.is_dir() or not any(roads.glob("*/manifest.json")):
        raise ConfigError(f"--roads {roads}: no dataset folders there (see drive dataset)")
    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading")
        document = run_roads_bench(
            weights,
            roads,
            unseen_colours=unseen_colours,
            on_stage=lambda road: bar.update(task, description=road),
        )
    write_json(json_path, _json_safe(document))
    console.print(roads_table(document), width=max(console.width, 180))
    console.print(f"Machine: {document['machine']}. Wrote {json_path}")
