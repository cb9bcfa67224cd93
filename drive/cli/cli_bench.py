"""The simulator and controller benchmarks: ``drive bench sim`` and ``drive bench control``.

They are registered on the ``drive bench`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli.options import RayAddress
from drive.cli.progress import progress_bar
from drive.cli.report import control_bench_table
from sims.files import write_json
from sims.plants import DEFAULT_PLANT, plant_named

console = Console()


def bench_control(
    json_path: Annotated[Path, typer.Option("--json", help="Write the figures here.")] = Path(
        "out/bench-control.json"
    ),
    plot: Annotated[Path, typer.Option(help="Lane-change plot (PNG).")] = Path(
        "out/bench-control.png"
    ),
    plant: Annotated[str, typer.Option(help="The car driven (sims/plants.py).")] = DEFAULT_PLANT,
) -> None:
    """The MPCs against highway-env's built-in controller (and the tracker) on standard manoeuvres."""
    from drive.bench.bench_control import CONTROLLERS, plot_lane_changes, run_control_bench
    from drive.bench.manoeuvres import MANOEUVRES

    plant_named(plant)  # an unknown name fails here, naming the valid ones
    total = len(CONTROLLERS) * len(MANOEUVRES)
    with progress_bar(console) as progress:
        task = progress.add_task("manoeuvres", total=total)
        document, runs = run_control_bench(
            on_run=lambda controller, name: progress.update(
                task, advance=1, description=f"{controller}: {name}"
            ),
            plant=plant,
        )
    write_json(json_path, document)
    plot_lane_changes(runs, plot, plant=plant)
    console.print(control_bench_table(document))
    console.print(f"Plant '{plant}'. Machine: {document['machine']}. Wrote {json_path} and {plot}")


def bench_sim(
    json_path: Annotated[Path, typer.Option("--json", help="Write the figures here.")] = Path(
        "out/bench-sim.json"
    ),
    batches: Annotated[
        str, typer.Option(help="Batch sizes of the batched engine, comma-separated.")
    ] = "1,64,1024,16384",
    fidelity_episodes: Annotated[
        int, typer.Option(min=2, help="Episodes of each fidelity check.")
    ] = 100,
    seconds: Annotated[
        float, typer.Option(min=0.1, help="Timing per throughput figure [s].")
    ] = 5.0,
    workers: Annotated[int, typer.Option(min=1, help="Processes for the highway-env side.")] = 2,
    compile_engine: Annotated[
        bool,
        typer.Option(
            "--compile/--no-compile",
            help="Also time the engine compiled by torch.compile (a minute or more the first time).",
        ),
    ] = True,
    env: Annotated[
        str,
        typer.Option(
            help="The road: highway-v0, merge-v0, exit-v0, roundabout-v0, intersection-v0, "
            "racetrack-v0, or all of them in one run."
        ),
    ] = "highway-v0",
    ray: RayAddress = None,
) -> None:
    """highway-env, EnvPool and the batched engine in steps/s; the engine's fidelity to highway-env."""
    from drive.bench.bench_roads import ROADS, run_road_bench
    from drive.bench.bench_sim import run_sim_bench
    from drive.cli.report import sim_bench_table
    from sims.parallel import Workers

    pool = Workers(workers, ray)

    try:
        sizes = tuple(int(size) for size in batches.split(","))
        if min(sizes) < 1:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"--batches must be positive integers, got {batches!r}") from None
    known = ("highway-v0", *ROADS)
    if env not in (*known, "all"):
        raise typer.BadParameter(f"--env must be one of {', '.join(known)} or all, got {env!r}")
    envs = known if env == "all" else (env,)
    documents = []
    with progress_bar(console) as progress:
        task = progress.add_task("starting", total=2 * fidelity_episodes * len(envs))

        def on_stage(stage: str) -> None:
            progress.update(task, description=stage)

        def on_episode() -> None:
            progress.update(task, advance=1)

        for road in envs:
            if road == "highway-v0":
                document = run_sim_bench(
                    batches=sizes,
                    fidelity_episodes=fidelity_episodes,
                    workers=pool,
                    seconds=seconds,
                    compile_engine=compile_engine,
                    on_stage=on_stage,
                    on_episode=on_episode,
                )
                document["env"] = "highway-v0"
            else:
                document = run_road_bench(
                    road,
                    batches=sizes,
                    fidelity_episodes=fidelity_episodes,
                    seconds=seconds,
                    compile_engine=compile_engine,
                    on_stage=on_stage,
                    on_episode=on_episode,
                    workers=pool,
                )
            documents.append(document)
    write_json(json_path, documents[0] if len(documents) == 1 else {"roads": documents})
    for document in documents:
        console.print(sim_bench_table(document))
    console.print(f"Machine: {documents[0]['machine']}. Wrote {json_path}")
