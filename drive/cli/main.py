"""The ``drive`` command line: demo, scenarios, rollout, eval and compare; the others register here."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli import (
    cli_bench,
    cli_control,
    cli_detector,
    cli_gan,
    cli_perception,
    cli_planning,
    cli_report,
    cli_vision,
)
from drive.cli.cli_report import (
    LayersOption,
    ReportOption,
    ScaleOption,
    VideosOption,
    video_style,
)
from drive.cli.options import RayAddress
from drive.cli.progress import progress_bar
from drive.cli.report import (
    aggregate_table,
    episodes_table,
    scenarios_table,
    suite_table,
)
from drive.episode.loop import EpisodeResult
from drive.episode.stack import Stack, StackSpec
from drive.runs.rollout import RolloutRequest, rollout_document, run_rollout
from sims.files import write_json
from sims.scenario import DEFAULT_SCENARIO, load_scenario, scenario_ids, with_plant
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
PLANT_OPTION = typer.Option(
    help="The car every scenario drives (sims/plants.py); default: each scenario's own."
)
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
    layers: LayersOption = "all",
    scale: ScaleOption = 1,
) -> None:
    """Drive one episode with the default stack; write a video and its metrics."""
    spec = StackSpec(perception=perception, planner=_DEMO.planner, controller=_DEMO.controller)
    loaded = load_scenario(scenario)
    Stack.build(spec, dt_s=loaded.dt_s, plant=loaded.plant)  # fail now on an unknown name
    request = RolloutRequest(
        scenario=loaded,
        stack=spec,
        episodes=1,
        seed=seed,
        video_path=out / "demo.mp4",
        video_style=video_style(layers, scale),
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
    ray: RayAddress = None,
    video: Annotated[
        Path | None, typer.Option(help="Record the first episode to this mp4.")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    report: ReportOption = None,
    videos: VideosOption = 3,
    layers: LayersOption = "all",
    scale: ScaleOption = 1,
    plant: Annotated[str | None, PLANT_OPTION] = None,
) -> None:
    """Run closed-loop episodes of a scenario with a stack and summarise them."""
    spec = StackSpec(perception=perception, planner=planner, controller=controller)
    loaded = with_plant(load_scenario(scenario), plant)
    # fail now, with a clear message, on an unknown name
    Stack.build(spec, dt_s=loaded.dt_s, plant=loaded.plant)
    style = video_style(layers, scale)
    request = RolloutRequest(
        scenario=loaded,
        stack=spec,
        episodes=episodes,
        seed=seed,
        workers=workers,
        video_path=video,
        video_style=style,
        ray=ray,
    )
    if report is not None and json_path is None:
        json_path = report / "run.json"  # the report's data, kept beside it
    console.print(
        f"{episodes} episode(s) of [bold]{loaded.id}[/] ({loaded.env}) with {_describe(spec)}, "
        f"seeds {seed}..{seed + episodes - 1}, {request.pool.describe()}"
    )
    document = _run_with_progress(request, json_path)
    console.print(episodes_table(document["episodes"]))
    console.print(aggregate_table("Aggregate", document["aggregate"]))
    if json_path is not None:
        console.print(f"Wrote {json_path}")
    if report is not None and json_path is not None:
        cli_report.write_run_report(
            [json_path], report, videos=videos, style=style, workers=workers
        )


@app.command("eval")
def eval_suite(
    suite: Annotated[
        str, typer.Option(help="Suite id (sims/suites/) or TOML path.")
    ] = "regression",
    perception: Annotated[str, typer.Option(help="Perception name.")] = _DEFAULT.perception,
    planner: Annotated[str, typer.Option(help="Planner name.")] = _DEFAULT.planner,
    controller: Annotated[str, typer.Option(help="Controller name.")] = _DEFAULT.controller,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    ray: RayAddress = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Earlier eval JSON: flag score drops, and list every metric that changed."
        ),
    ] = None,
    exact: Annotated[
        bool, typer.Option("--exact", help="Fail when any episode metric differs from --baseline.")
    ] = False,
    tolerance: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Score drop that counts as a regression (default: the suite's)."
        ),
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted eval of the same --json."),
    ] = False,
    report: ReportOption = None,
    videos: VideosOption = 3,
    layers: LayersOption = "all",
    scale: ScaleOption = 1,
    plant: Annotated[str | None, PLANT_OPTION] = None,
) -> None:
    """Run a scenario suite, judge each scenario's predicates, and flag score regressions."""
    from drive.runs.eval_suite import (
        JudgedEpisode,
        SuiteJournal,
        failed_predicates,
        metric_changes,
        read_baseline,
        regressions,
        run_suite,
        suite_document,
    )
    from sims.parallel import Workers
    from sims.suite import load_suite

    pool = Workers(workers, ray)
    loaded_suite, scenarios = load_suite(suite)
    scenarios = [with_plant(scenario, plant) for scenario in scenarios]
    if exact and baseline is None:
        raise ConfigError("--exact compares with a baseline: give --baseline FILE")
    earlier = None if baseline is None else read_baseline(baseline)  # fail now on a bad file
    if resume and json_path is None:
        raise ConfigError("--resume continues the eval of a --json file: give --json FILE")
    spec = StackSpec(perception=perception, planner=planner, controller=controller)
    for plant_name in sorted({scenario.plant for scenario in scenarios}):
        # fail now, with a clear message, on an unknown name or a car the controller cannot drive
        Stack.build(spec, dt_s=scenarios[0].dt_s, plant=plant_name)
    style = video_style(layers, scale)  # fail now on a bad layer
    if report is not None and json_path is None:
        json_path = report / "run.json"  # the report's data, kept beside it
    journal = (
        None
        if json_path is None
        else SuiteJournal(json_path, suite, spec, resume=resume, plant=plant)
    )
    before = {} if journal is None else journal.finished(scenarios)
    total = sum(len(s.seeds) for s in scenarios)
    console.print(
        f"Suite [bold]{suite}[/]: {len(scenarios)} scenarios, {total} episodes, {_describe(spec)}, "
        f"{pool.describe()}"
    )
    with progress_bar(console, status=True) as progress:
        task = progress.add_task("episodes", total=total, completed=len(before), status="")
        failures: list[str] = []
        finished: list[JudgedEpisode] = []

        def on_episode(judged: JudgedEpisode) -> None:
            finished.append(judged)
            if journal is not None:
                journal.add(judged)
            if not judged.passed:
                failures.append(f"{judged.result.scenario}/{judged.result.seed}")
            progress.update(task, advance=1, status=f"failed: {len(failures)}")

        try:
            judged = run_suite(
                scenarios, spec, workers=pool, on_episode=on_episode, finished_before=before
            )
        except KeyboardInterrupt:
            if json_path is not None:
                finished = [*before.values(), *finished]
                done = {j.result.scenario for j in finished}
                partial = [s for s in scenarios if s.id in done]
                document = suite_document(suite, loaded_suite, partial, spec, finished)
                document["complete"] = False
                write_json(json_path, document)
                errors.print(
                    f"interrupted: {len(finished)} finished episode(s) saved to {json_path}; "
                    "--resume runs the others"
                )
            raise
    document = suite_document(suite, loaded_suite, scenarios, spec, judged)
    if plant is not None:
        document["config"]["plant"] = plant
    changes = []
    if earlier is not None:
        used = loaded_suite.tolerance if tolerance is None else tolerance
        document["config"]["tolerance"] = used
        document["regressions"] = regressions(document, earlier, used)
        changes = metric_changes(document, earlier)
        document["changes"] = [asdict(change) for change in changes]
    if json_path is not None:
        write_json(json_path, document)
    if journal is not None:
        journal.close()
    console.print(suite_table(document, failed_predicates))
    if report is not None and json_path is not None:
        cli_report.write_run_report(
            [json_path], report, videos=videos, style=style, workers=workers
        )
    for flagged in document.get("regressions", []):
        errors.print(
            f"regression: {flagged['scenario']} scored {flagged['score']:.3f}, baseline {flagged['baseline']:.3f}",
            highlight=False,
        )
    # Episodes are deterministic: any changed metric is a change of behaviour, whatever the score.
    for change in changes:
        errors.print(f"changed: {change.describe()}", highlight=False, markup=False, soft_wrap=True)
    if earlier is not None:
        episodes = sum(len(entry["episodes"]) for entry in document["scenarios"].values())
        changed = len({(change.scenario, change.seed) for change in changes})
        console.print(f"{changed} of {episodes} episode(s) differ from {baseline}")
    failed = not document["passed"] or document.get("regressions") or (exact and changes)
    verdict = "FAILED" if failed else "passed"
    console.print(
        f"Suite score {document['score']:.3f}: {verdict}"
        + (f"; wrote {json_path}" if json_path else "")
    )
    if verdict != "passed":
        raise typer.Exit(1)


@app.command()
def compare(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="JSON files of rollouts or baseline evals; A.json+B.json pools one stack's runs."
        ),
    ],
    markdown: Annotated[bool, typer.Option(help="Print a Markdown table instead.")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw speed against collision rate into this PNG.")
    ] = None,
) -> None:
    """One table of collision rate, speed and return from several result files, with 95% intervals."""
    from drive.cli.report import comparison_rows, comparison_table
    from drive.runs.comparison import describe_provenance, plot_comparison, provenance_warnings

    rows = comparison_rows(results)
    if markdown:
        print(comparison_table(rows, markdown=True))
    else:
        console.print(comparison_table(rows, markdown=False))
    # On stderr, so that the Markdown table stays alone on stdout.
    for row in rows:
        for path, record in row["sources"]:
            errors.print(
                f"{path}: {describe_provenance(record)}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    for warning in provenance_warnings(rows):
        errors.print(
            f"warning: {warning}", highlight=False, markup=False, style="yellow", soft_wrap=True
        )
    if plot is not None:
        plot_comparison(rows, plot)
        errors.print(f"wrote {plot}")


@app.command()
def doctor() -> None:
    """Check the install: packages, rendering, OSQP, ffmpeg, shipped weights' hashes, CUDA."""
    from drive.doctor import Check, run_checks

    def show(check: Check) -> None:
        mark = "[green]ok[/]  " if check.passed else "[red]FAIL[/]"
        console.print(f"{mark} {check.name}: ", end="")
        console.print(check.detail, highlight=False, markup=False, soft_wrap=True)

    checks = run_checks(on_check=show)
    failed = [check.name for check in checks if not check.passed]
    if failed:
        errors.print(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        raise typer.Exit(1)
    console.print(f"All {len(checks)} checks passed.")


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


# The other commands live in modules of their own, one per field.
app.command("train")(cli_planning.train_planner)
app.command("report")(cli_report.report_command)
app.add_typer(cli_planning.baseline_app, name="baseline")
app.command("sweep")(cli_planning.sweep_command)
bench_app.command("control")(cli_bench.bench_control)
bench_app.command("sim")(cli_bench.bench_sim)
app.command("dataset")(cli_perception.dataset)
app.command("train-perception")(cli_perception.train_perception_command)
app.command("train-dynamics")(cli_control.train_dynamics_command)
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


if __name__ == "__main__":  # python -m drive.cli.main
    main()
