"""The planner commands: ``drive train`` and ``drive baseline train|eval``.

They are registered on the ``drive`` app in :mod:`drive.cli`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from drive.cli.options import RESUME, RayAddress, config_command, extra_option
from drive.cli.progress import progress_bar
from drive.cli.report import aggregate_table
from drive.training.planning_env import scenario_names
from drive.training.train_config import TrainConfig
from sims.files import write_json
from sims.scenario import load_scenario

console = Console()
errors = Console(stderr=True)

baseline_app = typer.Typer(
    no_args_is_help=True,
    help="highway-env's documented baseline: SB3 DQN with highway-env's meta-action controller.",
)


TRAIN_EXTRAS = [
    extra_option("out", Path, "Folder of the run: checkpoints, curve, TensorBoard."),
    RESUME,
]


@config_command(TrainConfig, extra=TRAIN_EXTRAS)
def train_planner(config: TrainConfig, *, out: Path, resume: bool) -> None:
    """Train a deep-RL planner (Stable-Baselines3) that drives through the stack's controller."""
    from drive.training.train_planner import best_card, train

    for road in scenario_names(config.scenario):
        load_scenario(road)  # fail now on an unknown scenario
    command = "drive train " + " ".join(sys.argv[2:])
    console.print(
        f"Training [bold]{config.algo}[/] with the {config.extractor} extractor in "
        f"{config.scenario}: {out}"
    )
    with progress_bar(console, "steps", status=True) as progress:
        task = progress.add_task("steps", total=config.steps, status="")
        try:
            state = train(
                config,
                out,
                resume=resume,
                command=command,
                on_progress=lambda done, status: progress.update(
                    task, completed=done, status=status
                ),
                on_validation=lambda point: progress.console.print(
                    f"{point['steps']:>7} steps, {point['wall_s'] / 60:5.1f} min: validation "
                    f"return {point['return']:.2f}, collisions {point['collision_rate']:.0%}, "
                    f"speed {point['speed_mps']:.1f} m/s",
                    highlight=False,
                ),
            )
        except KeyboardInterrupt:
            errors.print(f"interrupted: the last checkpoint is in {out}; --resume continues")
            raise
    card = best_card(out)
    console.print(
        f"Best policy: {out / 'best'} ({card.env_steps} steps); curve {out / 'curve.png'}; "
        f"trained for {state.train_wall_s / 60:.1f} min"
    )


@baseline_app.command("train")
def baseline_train(
    out: Annotated[Path, typer.Option(help="Folder for policy.zip and its card.")],
    steps: Annotated[int, typer.Option(min=1, help="Decisions to train for.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    sim: Annotated[
        str,
        typer.Option(
            help="highway-env (highway-fast-v0, as documented) or batched (the engine: highway-v0, "
            "or the scenario's road)."
        ),
    ] = "highway-env",
    envs: Annotated[int, typer.Option(min=1, help="Environments at once (batched only).")] = 256,
    scenario: Annotated[
        str,
        typer.Option(help="Scenario id or TOML: off the highway, train in its environment."),
    ] = "highway",
) -> None:
    """Train the documentation's DQN for ``--steps`` decisions, in highway-env or the batched engine."""
    import torch

    from drive.training.baseline import (
        HIGHWAY_ENVS,
        SIMS,
        TRAINING_ENV,
        check_batched,
        train_baseline,
    )

    if sim not in SIMS:
        raise typer.BadParameter(f"--sim {sim!r} is not one of: {', '.join(SIMS)}")
    road = load_scenario(scenario)
    if sim == "batched":
        check_batched(road)  # before any training starts
    torch.set_num_threads(1)  # a [256, 256] MLP on batches of 32 gains nothing from more threads
    where = (
        f"{'highway-v0' if road.env in HIGHWAY_ENVS else road.env} on the batched engine "
        f"({envs} envs)"
        if sim == "batched"
        else TRAINING_ENV
        if road.env in HIGHWAY_ENVS
        else road.env
    )
    console.print(f"Training highway-env's documented DQN on {where} for {steps} steps")
    with progress_bar(console, "steps") as progress:
        task = progress.add_task("steps", total=steps)
        wall_s = train_baseline(
            steps,
            out,
            seed=seed,
            command="drive baseline " + " ".join(sys.argv[2:]),
            on_progress=lambda done: progress.update(task, completed=done),
            sim=sim,
            envs=envs if sim == "batched" else 1,
            scenario=road,
        )
    console.print(f"Wrote {out / 'policy.zip'} after {wall_s / 60:.1f} min")


@baseline_app.command("eval")
def baseline_eval(
    policy: Annotated[Path, typer.Option(help="Folder of the trained baseline.")],
    scenario: Annotated[str, typer.Option(help="Scenario id or TOML path.")] = "highway",
    episodes: Annotated[int, typer.Option(min=1, help="Number of episodes.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first episode.")] = 100_000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Evaluate the baseline in a scenario's environment, on the same seeds as ``drive rollout``."""
    from drive.training.baseline import BaselineEpisode, evaluate_baseline
    from planning.rl.checkpoint import resolve

    resolve(policy)  # fail now, with one line, if there is no policy
    loaded = load_scenario(scenario)
    with progress_bar(console, "episodes", status=True) as progress:
        task = progress.add_task("episodes", total=episodes, status="")
        finished: list[BaselineEpisode] = []

        def on_episode(result: BaselineEpisode) -> None:
            finished.append(result)
            collisions = sum(r.collided for r in finished)
            progress.update(task, advance=1, status=f"collisions {collisions}/{len(finished)}")

        document = evaluate_baseline(
            loaded, policy, episodes=episodes, seed=seed, workers=workers, on_episode=on_episode
        )
    if json_path is not None:
        write_json(json_path, document)
    console.print(aggregate_table("Aggregate", document["aggregate"]))


def sweep_command(
    sweep_file: Annotated[Path, typer.Argument(help="The sweep's TOML (docs/cluster.md).")],
    out: Annotated[
        Path, typer.Option(help="Folder of the sweep: trials, Tune's state, table, best policy.")
    ],
    workers: Annotated[
        int, typer.Option(min=1, help="Trials at once, on a local Ray (one CPU each).")
    ] = 2,
    ray: RayAddress = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the sweep killed in --out.")
    ] = False,
) -> None:
    """Ray Tune over drive train settings and seeds: a table with 95% intervals, the best policy."""
    from drive.training.sweep import load_sweep, summarise
    from drive.training.sweep_tune import run_sweep
    from sims.parallel import Workers

    sweep = load_sweep(sweep_file)
    pool = Workers(workers, ray or "local")
    console.print(
        f"Sweep {sweep_file.name}: {len(sweep.settings)} setting(s) x {len(sweep.seeds)} seed(s), "
        f"{sweep.steps} steps each, on {pool.describe()}: {out}"
    )
    run_sweep(sweep, out, workers=pool, resume=resume, on_line=errors.print)
    document = summarise(sweep, out)
    console.print(sweep_table(document))
    best = document.get("best")
    if best is not None:
        console.print(
            f"Best trial {Path(best['folder']).name}: validation return {best['best']['return']:.2f}"
            f"; its policy is in {out / 'best'}; the table in {out / 'sweep.json'}"
        )
    if not document["complete"]:
        errors.print("some trials have no validation yet: --resume continues them")
        raise typer.Exit(1)


def sweep_table(document: dict) -> Table:
    """One row per setting: best validation return, collision rate and speed over its seeds."""
    table = Table(
        title="Sweep: each setting's best validation point, mean over seeds [95% interval]"
    )
    for name in ("setting", "seeds", "return", "collision rate", "speed [m/s]"):
        table.add_column(name, justify="left" if name == "setting" else "right")

    def cell(entry: dict) -> str:
        if entry["ci95"] is None:
            return f"{entry['mean']:.3f}"
        low, high = entry["ci95"]
        return f"{entry['mean']:.3f} [{low:.3f}, {high:.3f}]"

    for row in document["table"]:
        setting = ", ".join(f"{k}={v}" for k, v in row["setting"].items()) or "(fixed)"
        table.add_row(
            setting,
            str(row["best_return"]["n"]),
            cell(row["best_return"]),
            cell(row["collision_rate"]),
            cell(row["speed_mps"]),
        )
    return table
