"""The drive-stack pytest plugin: closed-loop scenario files as tests, in anyone's repository.

pytest loads it through the ``pytest11`` entry point of drive-stack (``-p no:drive_stack`` turns it
off). It then

- collects ``scenario_*.toml`` files (and any TOML under the folders of the ``drive_scenarios`` ini
  key) as one item per scenario and seed, and ``suite_*.toml`` files as one item per seed of each
  scenario they list; each item drives one episode and is judged by the scenario's ``[criteria]``;
- takes the stack from ``--drive-perception``/``--drive-planner``/``--drive-controller`` (or the ini
  keys ``drive_perception``/``drive_planner``/``drive_controller``), any name the registries take,
  those installed packages register included;
- with ``--drive-baseline FILE`` fails an item whose score fell more than ``--drive-tolerance``
  below the file's score for the same scenario and seed;
- on a failure writes the episode's mp4 and JSON under ``--drive-artifacts`` (default
  ``artifacts/drive`` in the root folder) and prints their paths;
- ends the run with a summary table, and with ``--drive-json FILE`` writes the results in
  ``drive eval --json``'s layout, for the next run's baseline;
- gives hand-written tests the ``drive_episode`` fixture.

This module imports only pytest and the standard library: pytest imports it in every session of
everyone who has drive-stack installed. Everything that needs the simulator is imported when a
scenario file is collected or an episode runs. Docs: docs/pytest-plugin.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from drive.testing.items import (
    EPISODE_PROPERTY,
    SCENARIO_PREFIX,
    SETTINGS,
    SUITE_PREFIX,
    ScenarioFile,
    Settings,
    SuiteFile,
)

if TYPE_CHECKING:
    from drive.testing.episodes import DriveEpisode
    from sims.scenario import Scenario

STAGES = ("perception", "planner", "controller")
DEFAULT_ARTIFACTS = "artifacts/drive"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("drive", "drive-stack closed-loop scenarios")
    for stage in STAGES:
        group.addoption(
            f"--drive-{stage}",
            metavar="NAME",
            help=f"{stage} of the stack that drives the scenarios (ini: drive_{stage}; "
            "default: the stack's default)",
        )
        parser.addini(f"drive_{stage}", f"{stage} name for the scenarios' stack", default="")
    group.addoption(
        "--drive-baseline",
        metavar="FILE",
        help="earlier results (drive eval --json or --drive-json): fail an item whose score fell "
        "more than the tolerance below the file's (ini: drive_baseline)",
    )
    parser.addini("drive_baseline", "baseline results file, from the ini file's folder", default="")
    group.addoption(
        "--drive-tolerance",
        metavar="T",
        help="score drop that counts as a regression (ini: drive_tolerance; default: the suite "
        "file's, else 0.05)",
    )
    parser.addini("drive_tolerance", "score drop that counts as a regression", default="")
    group.addoption(
        "--drive-exact",
        action="store_true",
        default=None,
        help="with a baseline, fail an item whose metrics differ from the baseline's at all, "
        "whatever the tolerance (ini: drive_exact)",
    )
    parser.addini("drive_exact", "with a baseline, fail on any changed metric", type="bool")
    group.addoption(
        "--drive-artifacts",
        metavar="DIR",
        help=f"where failing episodes' mp4 and JSON go (ini: drive_artifacts; default: "
        f"{DEFAULT_ARTIFACTS} in the root folder)",
    )
    parser.addini("drive_artifacts", "folder for failing episodes' mp4 and JSON", default="")
    group.addoption(
        "--drive-json",
        metavar="FILE",
        help="write the scenario items' results here, in drive eval --json's layout",
    )
    parser.addini(
        "drive_scenarios",
        "folders whose TOML files are scenario files whatever their name (suite_*.toml: suites)",
        type="paths",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "drive_scenario: a closed-loop scenario item of the drive-stack plugin"
    )
    config.stash[SETTINGS] = _settings(config)
    config.pluginmanager.register(EpisodeRecords(config), "drive-stack-episode-records")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".toml":
        return None
    settings = parent.config.stash[SETTINGS]
    if file_path.name.startswith(SUITE_PREFIX):
        return SuiteFile.from_parent(parent, path=file_path)
    resolved = file_path.resolve()
    if file_path.name.startswith(SCENARIO_PREFIX) or any(
        resolved == folder or folder in resolved.parents for folder in settings.scenario_paths
    ):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def drive_episode(request: pytest.FixtureRequest) -> Callable[..., DriveEpisode]:
    """Run one closed-loop episode and get back its metrics, trajectory and verdicts.

    ``drive_episode(scenario, *, seed=None, perception=None, planner=None, controller=None,
    video_path=None)``: ``scenario`` is a shipped id, a scenario file (a relative path is looked
    for beside the test file first) or a :class:`sims.scenario.Scenario`; ``seed`` defaults to the
    scenario's first; a stage not named is the session's (``--drive-planner`` and the like). The
    episode also goes into the summary table. Returns a
    :class:`drive.testing.episodes.DriveEpisode`.
    """
    settings: Settings = request.config.stash[SETTINGS]

    def run(
        scenario: str | os.PathLike[str] | Scenario,
        *,
        seed: int | None = None,
        perception: str | None = None,
        planner: str | None = None,
        controller: str | None = None,
        video_path: Path | None = None,
    ) -> DriveEpisode:
        from drive.episode.stack import StackSpec
        from drive.testing.episodes import drive_one

        loaded = _scenario(scenario, beside=request.path.parent)
        given = {"perception": perception, "planner": planner, "controller": controller}
        names = {**settings.stack, **{k: v for k, v in given.items() if v is not None}}
        chosen = loaded.seeds[0] if seed is None else seed
        episode = drive_one(loaded, StackSpec(**names), chosen, video_path=video_path)
        record = {**episode.record(source=request.node.nodeid), "kind": "fixture"}
        request.node.user_properties.append((EPISODE_PROPERTY, record))
        return episode

    return run


class EpisodeRecords:
    """Gathers the episodes each test report carries (from pytest-xdist's workers too) and ends the
    run with the summary table and, with ``--drive-json``, the results file."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == EPISODE_PROPERTY and isinstance(value, dict):
                self.records.append(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.records:  # a pytest-xdist worker
            return
        from drive.testing.summary import results_document, summary_lines

        terminalreporter.write_sep("=", "drive-stack scenarios")
        for line in summary_lines(self.records):
            terminalreporter.write_line(line)
        settings: Settings = self.config.stash[SETTINGS]
        items = [r for r in self.records if r["kind"] == "item"]
        if settings.results is not None and items:
            from sims.files import write_json

            document = results_document(items, tolerance=settings.tolerance)
            write_json(settings.results, document)
            terminalreporter.write_line(f"wrote {settings.results}")


def _settings(config: pytest.Config) -> Settings:
    """The options, each from the command line or else the ini file; bad values are usage errors."""
    root = config.inipath.parent if config.inipath is not None else config.rootpath

    def option(name: str) -> str | None:
        value = config.getoption(f"--drive-{name}")
        if value is not None:
            return str(value)
        ini = str(config.getini(f"drive_{name}")).strip()
        return ini or None

    def path(name: str) -> Path | None:
        given = config.getoption(f"--drive-{name}")
        if given is not None:
            return Path(given).resolve()
        ini = str(config.getini(f"drive_{name}")).strip()
        return (root / ini).resolve() if ini else None

    stack = {stage: name for stage in STAGES if (name := option(stage)) is not None}
    baseline = path("baseline")
    if baseline is not None and not baseline.is_file():
        raise pytest.UsageError(f"--drive-baseline / drive_baseline: {baseline}: no such file")
    tolerance = option("tolerance")
    try:
        parsed = None if tolerance is None else float(tolerance)
    except ValueError:
        parsed = -1.0
    if parsed is not None and not 0 <= parsed <= 1:
        raise pytest.UsageError(
            f"--drive-tolerance / drive_tolerance: expected a number in [0, 1], got {tolerance!r}"
        )
    return Settings(
        stack=stack,
        baseline=baseline,
        tolerance=parsed,
        artifacts=path("artifacts") or (config.rootpath / DEFAULT_ARTIFACTS).resolve(),
        results=Path(config.getoption("--drive-json")).resolve()
        if config.getoption("--drive-json")
        else None,
        scenario_paths=tuple(Path(p).resolve() for p in config.getini("drive_scenarios")),
        exact=bool(config.getoption("--drive-exact") or config.getini("drive_exact")),
    )


def _scenario(scenario: str | os.PathLike[str] | Scenario, *, beside: Path) -> Scenario:
    """A scenario object as it is; a relative file path from the test's folder if a file is there;
    otherwise an id or path as :func:`sims.scenario.load_scenario` takes it."""
    from sims.scenario import Scenario, load_scenario

    if isinstance(scenario, Scenario):
        return scenario
    text = os.fspath(scenario)
    nearby = beside / text
    if (
        (text.endswith(".toml") or "/" in text)
        and not Path(text).is_absolute()
        and nearby.is_file()
    ):
        return load_scenario(nearby)
    return load_scenario(text)
