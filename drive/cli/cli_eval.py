"""``drive eval``: run a scenario suite, judge each scenario's predicates, flag regressions."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from drive.cli import cli_report
from drive.cli.cli_report import (
    LayersOption,
    ReportOption,
    ScaleOption,
    VideosOption,
    video_style,
)
from drive.cli.options import PLANT_OPTION, RayAddress
from drive.cli.progress import progress_bar
from drive.cli.report import suite_table
from drive.episode.stack import Stack, StackSpec
from sims.files import write_json
from sims.scenario import with_plant
from sims.strict import ConfigError

console = Console()
errors = Console(stderr=True)

_DEFAULT = StackSpec()  # the suite drives with the rule planner unless told otherwise


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
        f"Suite [bold]{suite}[/]: {len(scenarios)} scenarios, {total} episodes, {spec.describe()}, "
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
