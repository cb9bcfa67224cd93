"""The ``drive`` command line: demo, scenarios, rollout and compare; the others register here."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli import (
    cli_bench,
    cli_control,
    cli_detector,
    cli_eval,
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
from drive.cli.options import PLANT_OPTION, RayAddress
from drive.cli.progress import progress_bar
from drive.cli.report import (
    aggregate_table,
    episodes_table,
    scenarios_table,
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
        f"Driving [bold]{request.scenario.id}[/] ({request.scenario.env}) with {spec.describe()}"
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
        f"{episodes} episode(s) of [bold]{loaded.id}[/] ({loaded.env}) with {spec.describe()}, "
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


# The other commands live in modules of their own, one per field.
app.command("eval")(cli_eval.eval_suite)
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
