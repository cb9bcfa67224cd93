"""The ``drive`` command line: demo, scenarios, rollout, eval, train, bench."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive import cli_detector, cli_gan, cli_perception, cli_vision
from drive.jsonio import write_json
from drive.loop import EpisodeResult
from drive.progress import progress_bar
from drive.report import (
    aggregate_table,
    control_bench_table,
    episodes_table,
    scenarios_table,
    suite_table,
)
from drive.rollout import RolloutRequest, rollout_document, run_rollout
from drive.stack import Stack, StackSpec
from sims.scenario import DEFAULT_SCENARIO, load_scenario, scenario_ids
from sims.strict import ConfigError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="A simulator-based driving stack: scenarios, closed-loop rollouts, videos and metrics.",
)
console = Console()
errors = Console(stderr=True)

_DEFAULT = StackSpec()
# The demo drives with the shipped RL planner. Rollouts and the suite default to the rule planner:
# the suite spans roads (intersections, roundabouts) the RL planner was never trained on.
_DEMO = StackSpec(planner="default")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that write JSON and print a table.")
app.add_typer(bench_app, name="bench")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for demo.mp4 and metrics.json.")] = Path("out"),
    scenario: Annotated[str, typer.Option(help="Scenario id or TOML path.")] = DEFAULT_SCENARIO,
    seed: Annotated[int, typer.Option(min=0, help="Episode seed.")] = 0,
    perception: Annotated[
        str, typer.Option(help="Perception name (cnn: from pixels; the video shows its camera).")
    ] = _DEMO.perception,
) -> None:
    """Drive one episode with the default stack; write a video and its metrics."""
    spec = StackSpec(perception=perception, planner=_DEMO.planner, controller=_DEMO.controller)
    loaded = load_scenario(scenario)
    Stack.build(spec, dt_s=loaded.dt_s)  # fail now, with a clear message, on an unknown name
    request = RolloutRequest(
        scenario=loaded,
        stack=spec,
        episodes=1,
        seed=seed,
        video_path=out / "demo.mp4",
    )
    console.print(
        f"Driving [bold]{request.scenario.id}[/] ({request.scenario.env}) with {_describe(spec)}"
    )
    document = _run_with_progress(request, out / "metrics.json")
    console.print(episodes_table(document["episodes"]))
    console.print(f"Wrote {out / 'demo.mp4'} and {out / 'metrics.json'}")


@app.command()
def scenarios(
    ids: Annotated[bool, typer.Option("--ids", help="Print only the ids, one per line.")] = False,
) -> None:
    """List the shipped scenarios with a one-line description each."""
    if ids:
        print("\n".join(scenario_ids()))
        return
    console.print(scenarios_table([load_scenario(sid) for sid in scenario_ids()]))


@app.command()
def rollout(
    scenario: Annotated[str, typer.Option(help="Scenario id or TOML path.")],
    perception: Annotated[str, typer.Option(help="Perception name.")] = _DEFAULT.perception,
    planner: Annotated[str, typer.Option(help="Planner name.")] = _DEFAULT.planner,
    controller: Annotated[str, typer.Option(help="Controller name.")] = _DEFAULT.controller,
    episodes: Annotated[int, typer.Option(min=1, help="Number of episodes.")] = 1,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed of the first episode; episode k uses seed + k.")
    ] = 0,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    video: Annotated[
        Path | None, typer.Option(help="Record the first episode to this mp4.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Run closed-loop episodes of a scenario with a stack and summarise them."""
    spec = StackSpec(perception=perception, planner=planner, controller=controller)
    loaded = load_scenario(scenario)
    Stack.build(spec, dt_s=loaded.dt_s)  # fail now, with a clear message, on an unknown name
    request = RolloutRequest(
        scenario=loaded, stack=spec, episodes=episodes, seed=seed, workers=workers, video_path=video
    )
    console.print(
        f"{episodes} episode(s) of [bold]{loaded.id}[/] ({loaded.env}) with {_describe(spec)}, "
        f"seeds {seed}..{seed + episodes - 1}, {workers} worker(s)"
    )
    document = _run_with_progress(request, json_path)
    console.print(episodes_table(document["episodes"]))
    console.print(aggregate_table("Aggregate", document["aggregate"]))
    if json_path is not None:
        console.print(f"Wrote {json_path}")


@app.command("eval")
def eval_suite(
    suite: Annotated[
        str, typer.Option(help="Suite id (sims/suites/) or TOML path.")
    ] = "regression",
    perception: Annotated[str, typer.Option(help="Perception name.")] = _DEFAULT.perception,
    planner: Annotated[str, typer.Option(help="Planner name.")] = _DEFAULT.planner,
    controller: Annotated[str, typer.Option(help="Controller name.")] = _DEFAULT.controller,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    baseline: Annotated[
        Path | None, typer.Option(help="Earlier eval JSON to compare scores with.")
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Score drop that counts as a regression (default: the suite's)."
        ),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
) -> None:
    """Run a scenario suite, judge each scenario's predicates, and flag score regressions."""
    from drive.evaluate import (
        JudgedEpisode,
        failed_predicates,
        regressions,
        run_suite,
        suite_document,
    )
    from sims.suite import load_suite

    loaded_suite, scenarios = load_suite(suite)
    spec = StackSpec(perception=perception, planner=planner, controller=controller)
    Stack.build(spec, dt_s=scenarios[0].dt_s)  # fail now, with a clear message, on an unknown name
    total = sum(len(s.seeds) for s in scenarios)
    console.print(
        f"Suite [bold]{suite}[/]: {len(scenarios)} scenarios, {total} episodes, {_describe(spec)}"
    )
    with progress_bar(console, status=True) as progress:
        task = progress.add_task("episodes", total=total, status="")
        failures: list[str] = []
        finished: list[JudgedEpisode] = []

        def on_episode(judged: JudgedEpisode) -> None:
            finished.append(judged)
            if not judged.passed:
                failures.append(f"{judged.result.scenario}/{judged.result.seed}")
            progress.update(task, advance=1, status=f"failed: {len(failures)}")

        try:
            judged = run_suite(scenarios, spec, workers=workers, on_episode=on_episode)
        except KeyboardInterrupt:
            if json_path is not None:
                done = {j.result.scenario for j in finished}
                partial = [s for s in scenarios if s.id in done]
                document = suite_document(suite, loaded_suite, partial, spec, finished)
                document["complete"] = False
                write_json(json_path, document)
                errors.print(
                    f"interrupted: {len(finished)} finished episode(s) saved to {json_path}"
                )
            raise
    document = suite_document(suite, loaded_suite, scenarios, spec, judged)
    if baseline is not None:
        used = loaded_suite.tolerance if tolerance is None else tolerance
        document["config"]["tolerance"] = used
        document["regressions"] = regressions(document, baseline, used)
    if json_path is not None:
        write_json(json_path, document)
    console.print(suite_table(document, failed_predicates))
    for flagged in document.get("regressions", []):
        errors.print(
            f"regression: {flagged['scenario']} scored {flagged['score']:.3f}, baseline {flagged['baseline']:.3f}",
            highlight=False,
        )
    verdict = "passed" if document["passed"] and not document.get("regressions") else "FAILED"
    console.print(
        f"Suite score {document['score']:.3f}: {verdict}"
        + (f"; wrote {json_path}" if json_path else "")
    )
    if verdict != "passed":
        raise typer.Exit(1)


@app.command("train")
def train_planner(
    out: Annotated[Path, typer.Option(help="Folder of the run: checkpoints, curve, TensorBoard.")],
    scenario: Annotated[str, typer.Option(help="Scenario id to train in.")] = "highway",
    algo: Annotated[str, typer.Option(help="dqn or ppo.")] = "dqn",
    extractor: Annotated[str, typer.Option(help="mlp or attention.")] = "attention",
    steps: Annotated[
        int, typer.Option(min=1, help="Planner decisions, all environments.")
    ] = 20_000,
    envs: Annotated[int, typer.Option(min=1, help="Environments in parallel processes.")] = 2,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    controller: Annotated[str, typer.Option(help="Controller executing the plans.")] = "mpc",
    sim: Annotated[
        str,
        typer.Option(
            help="highway-env (worker processes, through --controller) or batched (the batched "
            "engine, --envs at once; validation there too)."
        ),
    ] = "highway-env",
    safety_layer: Annotated[
        bool,
        typer.Option(
            "--safety-layer",
            help="Train with the executor's safety layer vetoing unsafe lane changes.",
        ),
    ] = False,
    car_following: Annotated[
        str, typer.Option(help="The executor's car following: idm or idm_plus.")
    ] = "idm",
    time_gap: Annotated[
        float, typer.Option(help="The executor's time gap behind its leader [s].")
    ] = 1.5,
    eval_every: Annotated[int, typer.Option(min=1, help="Validate every this many steps.")] = 2_000,
    eval_episodes: Annotated[int, typer.Option(min=1, help="Validation episodes.")] = 10,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, help="Save every this many steps.")
    ] = 1_000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
) -> None:
    """Train a deep-RL planner (Stable-Baselines3) that drives through the stack's controller."""
    from drive.train import TrainConfig, best_card, train

    config = TrainConfig(
        scenario=scenario,
        algo=algo,
        extractor=extractor,
        steps=steps,
        envs=envs,
        seed=seed,
        device=device,
        controller=controller,
        sim=sim,
        safety_layer=safety_layer,
        car_following=car_following,
        time_gap_s=time_gap,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        checkpoint_every=checkpoint_every,
    )
    load_scenario(scenario)  # fail now on an unknown scenario
    command = "drive train " + " ".join(sys.argv[2:])
    console.print(f"Training [bold]{algo}[/] with the {extractor} extractor in {scenario}: {out}")
    with progress_bar(console, "steps", status=True) as progress:
        task = progress.add_task("steps", total=steps, status="")
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


baseline_app = typer.Typer(
    no_args_is_help=True,
    help="highway-env's documented baseline: SB3 DQN with highway-env's meta-action controller.",
)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("train")
def baseline_train(
    out: Annotated[Path, typer.Option(help="Folder for policy.zip and its card.")],
    steps: Annotated[int, typer.Option(min=1, help="Decisions to train for.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the run.")] = 0,
    sim: Annotated[
        str,
        typer.Option(help="highway-env (highway-fast-v0, as documented) or batched (highway-v0)."),
    ] = "highway-env",
    envs: Annotated[int, typer.Option(min=1, help="Environments at once (batched only).")] = 256,
) -> None:
    """Train the documentation's DQN for ``--steps`` decisions, in highway-env or the batched engine."""
    import torch

    from drive.baseline import SIMS, TRAINING_ENV, train_baseline

    if sim not in SIMS:
        raise typer.BadParameter(f"--sim {sim!r} is not one of: {', '.join(SIMS)}")
    torch.set_num_threads(1)  # a [256, 256] MLP on batches of 32 gains nothing from more threads
    where = (
        TRAINING_ENV if sim == "highway-env" else f"highway-v0 on the batched engine ({envs} envs)"
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
    from drive.baseline import BaselineEpisode, evaluate_baseline
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


@app.command()
def compare(
    results: Annotated[
        list[Path], typer.Argument(help="JSON files of rollouts or baseline evals.")
    ],
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table instead.")] = False,
) -> None:
    """One table of collision rate, speed and return from several result files."""
    from drive.report import comparison_rows, comparison_table

    rows = comparison_rows(results)
    if markdown:
        print(comparison_table(rows, markdown=True))
    else:
        console.print(comparison_table(rows, markdown=False))


@bench_app.command("control")
def bench_control(
    json_path: Annotated[Path, typer.Option("--json", help="Write the figures here.")] = Path(
        "out/bench-control.json"
    ),
    plot: Annotated[Path, typer.Option(help="Lane-change plot (PNG).")] = Path(
        "out/bench-control.png"
    ),
) -> None:
    """The MPC against highway-env's built-in controller (and the tracker) on standard manoeuvres."""
    from drive.bench_control import CONTROLLERS, plot_lane_changes, run_control_bench
    from drive.manoeuvres import MANOEUVRES

    total = len(CONTROLLERS) * len(MANOEUVRES)
    with progress_bar(console) as progress:
        task = progress.add_task("manoeuvres", total=total)
        document, runs = run_control_bench(
            on_run=lambda controller, name: progress.update(
                task, advance=1, description=f"{controller}: {name}"
            )
        )
    write_json(json_path, document)
    plot_lane_changes(runs, plot)
    console.print(control_bench_table(document))
    console.print(f"Machine: {document['machine']}. Wrote {json_path} and {plot}")


@bench_app.command("sim")
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
) -> None:
    """highway-env, EnvPool and the batched engine in steps/s; the engine's fidelity to highway-env."""
    from drive.bench_sim import run_sim_bench
    from drive.report import sim_bench_table

    try:
        sizes = tuple(int(size) for size in batches.split(","))
        if min(sizes) < 1:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"--batches must be positive integers, got {batches!r}") from None
    with progress_bar(console) as progress:
        task = progress.add_task("starting", total=2 * fidelity_episodes)
        document = run_sim_bench(
            batches=sizes,
            fidelity_episodes=fidelity_episodes,
            workers=workers,
            seconds=seconds,
            compile_engine=compile_engine,
            on_stage=lambda stage: progress.update(task, description=stage),
            on_episode=lambda: progress.update(task, advance=1),
        )
    write_json(json_path, document)
    console.print(sim_bench_table(document))
    console.print(f"Machine: {document['machine']}. Wrote {json_path}")


def _run_with_progress(request: RolloutRequest, json_path: Path | None) -> dict:
    """Run a rollout under a progress bar; on Ctrl-C, keep what finished in the JSON."""
    finished: list[EpisodeResult] = []
    with progress_bar(console, status=True) as progress:
        task = progress.add_task("episodes", total=request.episodes, status="")

        def on_episode(result: EpisodeResult) -> None:
            finished.append(result)
            collisions = sum(r.metrics.collided for r in finished)
            speed = sum(r.metrics.mean_speed_mps for r in finished) / len(finished)
            progress.update(
                task,
                advance=1,
                status=f"collisions {collisions}/{len(finished)}, mean speed {speed:.1f} m/s",
            )

        try:
            results = run_rollout(request, on_episode=on_episode)
        except KeyboardInterrupt:
            if json_path is not None:
                write_json(json_path, rollout_document(request, finished, complete=False))
                errors.print(
                    f"interrupted: {len(finished)} finished episode(s) saved to {json_path}"
                )
            raise
    document = rollout_document(request, results, complete=True)
    if json_path is not None:
        write_json(json_path, document)
    return document


def _describe(spec: StackSpec) -> str:
    return f"perception={spec.perception}, planner={spec.planner}, controller={spec.controller}"


# The perception commands live in their own module (this one is long enough).
app.command("dataset")(cli_perception.dataset)
app.command("train-perception")(cli_perception.train_perception_command)
app.command("train-detector")(cli_detector.train_detector_command)
app.command("detect")(cli_detector.detect_command)
app.command("train-gan")(cli_gan.train_gan_command)
app.command("synthesize")(cli_vision.synthesize_command)
bench_app.command("perception")(cli_perception.bench_perception)
bench_app.command("vision")(cli_vision.bench_vision)


def main() -> None:
    """Entry point: bad input ends in a one-line message and exit code 2, never a traceback."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        # SDL (under pygame's offscreen rendering) complains on every start without one.
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="drive-xdg-")
    # SDL otherwise catches SIGTERM (to post a quit event nobody reads) once a frame is rendered,
    # and `kill` or a job scheduler could no longer stop a rendering command.
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    try:
        app()
    except ConfigError as error:
        errors.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except OSError as error:  # an output path that cannot be written, a missing input file
        errors.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
