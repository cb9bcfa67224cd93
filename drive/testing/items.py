"""Scenario and suite files as pytest collectors, and one test item per scenario and seed.

Only pytest and the standard library are imported here at module level: the plugin imports this
module in every pytest session of anyone with drive-stack installed. The simulator and the stack
come in when a scenario file is found (:meth:`ScenarioFile.collect`) and when an item runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from drive.testing.episodes import Baseline
    from sims.scenario import Scenario

SCENARIO_PREFIX = "scenario_"
"""A ``scenario_*.toml`` file is a scenario file wherever pytest finds it."""
SUITE_PREFIX = "suite_"
"""A ``suite_*.toml`` file is a suite file (``drive eval --suite``'s format) wherever it is found."""
EPISODE_PROPERTY = "drive_episode"
"""The ``user_properties`` key under which an episode's record travels with its test report."""


@dataclass(frozen=True)
class Settings:
    """The plugin's options, from the command line or else the ini file.

    :param stack: the stage names given (``perception``, ``planner``, ``controller``); a stage not
        given keeps the stack's default (:class:`drive.episode.stack.StackSpec`).
    :param baseline: an earlier results file to compare scores with, or None.
    :param tolerance: the score drop that fails an item; None: the suite's, or 0.05.
    :param artifacts: where a failing episode's mp4 and JSON go.
    :param results: where to write this run's results (``--drive-json``), or None.
    :param scenario_paths: folders (or files) whose TOML files are scenario files whatever their name.
    :param exact: with a baseline, any metric that differs from it fails an item.
    """

    stack: dict[str, str]
    baseline: Path | None
    tolerance: float | None
    artifacts: Path
    results: Path | None
    scenario_paths: tuple[Path, ...]
    exact: bool = False


SETTINGS = pytest.StashKey[Settings]()
"""Where the session's :class:`Settings` are kept on the pytest config."""
BASELINE = pytest.StashKey["Baseline"]()
"""Where the baseline file's scores are kept once read (in each test process)."""
EXACT_BASELINE = pytest.StashKey[dict]()
"""Where the whole baseline document is kept once read, for ``--drive-exact``."""


class ScenarioFailed(Exception):
    """A scenario item's verdict: the message names each failed predicate and the artifacts."""


class ScenarioFile(pytest.File):
    """A scenario TOML file: one item per seed of its ``seeds``."""

    def collect(self) -> Iterator[ScenarioItem]:
        from sims.scenario import load_scenario
        from sims.strict import ConfigError

        try:
            scenario = load_scenario(self.path)
        except ConfigError as error:
            raise self.CollectError(f"{self.path}: {error}") from None
        for seed in scenario.seeds:
            yield ScenarioItem.from_parent(self, scenario=scenario, seed=seed, tolerance=None)


class SuiteFile(pytest.File):
    """A suite TOML file: one item per seed of each scenario it lists, with its tolerance."""

    def collect(self) -> Iterator[ScenarioItem]:
        from sims.strict import ConfigError
        from sims.suite import load_suite

        try:
            suite, scenarios = load_suite(self.path)
        except ConfigError as error:
            raise self.CollectError(f"{self.path}: {error}") from None
        for scenario in scenarios:
            for seed in scenario.seeds:
                yield ScenarioItem.from_parent(
                    self, scenario=scenario, seed=seed, tolerance=suite.tolerance
                )


class ScenarioItem(pytest.Item):
    """One episode of a scenario on one seed, driven by the session's stack and judged by the
    scenario's ``[criteria]`` (and, with ``--drive-baseline``, by the baseline's score)."""

    def __init__(
        self, *, scenario: Scenario, seed: int, tolerance: float | None, **kwargs: Any
    ) -> None:
        super().__init__(name=f"{scenario.id}[seed{seed}]", **kwargs)
        self.scenario = scenario
        self.seed = seed
        self.suite_tolerance = tolerance
        self.add_marker("drive_scenario")

    def runtest(self) -> None:
        from drive.episode.stack import StackSpec
        from drive.testing.episodes import drive_one, write_artifacts

        settings: Settings = self.config.stash[SETTINGS]
        tolerance = self.tolerance()
        episode = drive_one(self.scenario, StackSpec(**settings.stack), self.seed)
        source = str(self.path)
        record = {**episode.record(source=source), "kind": "item"}
        baseline = self.baseline()
        regression = baseline.regression(episode, tolerance) if baseline else None
        changed = self.changes(episode) if baseline and settings.exact else None
        regression = "; ".join(reason for reason in (regression, changed) if reason) or None
        record["baseline_score"] = baseline.score(self.scenario.id, self.seed) if baseline else None
        record["regression"] = regression
        self.user_properties.append((EPISODE_PROPERTY, record))
        if episode.passed and regression is None:
            return
        folder = settings.artifacts / f"{self.scenario.id}-seed{self.seed}"
        video, document = write_artifacts(episode, folder, source=source)
        reasons = [p.describe() for p in episode.predicates if not p.passed]
        reasons += [regression] if regression else []
        raise ScenarioFailed(
            f"{self.scenario.id} seed {self.seed} ({_describe(record['stack'])}): "
            + "; ".join(reasons)
            + f"\nvideo: {video}\nepisode JSON: {document}"
        )

    def tolerance(self) -> float:
        """The score drop that fails this item: the option's, else its suite's, else 0.05."""
        settings: Settings = self.config.stash[SETTINGS]
        if settings.tolerance is not None:
            return settings.tolerance
        if self.suite_tolerance is not None:
            return self.suite_tolerance
        from sims.suite import DEFAULT_TOLERANCE

        return DEFAULT_TOLERANCE

    def changes(self, episode: Any) -> str | None:
        """Every metric of ``episode`` that differs from the baseline's at all, or None."""
        from dataclasses import asdict

        from drive.runs.eval_suite import episode_changes, read_baseline

        settings: Settings = self.config.stash[SETTINGS]
        if EXACT_BASELINE not in self.config.stash:
            assert settings.baseline is not None
            self.config.stash[EXACT_BASELINE] = read_baseline(settings.baseline)
        record = {"seed": self.seed, "passed": episode.passed, **asdict(episode.metrics)}
        found = episode_changes(self.scenario.id, record, self.config.stash[EXACT_BASELINE])
        if not found:
            return None
        return (
            f"{len(found)} metric(s) differ from {settings.baseline}: "
            + "; ".join(change.describe() for change in found)
            + " (if the change is meant, regenerate the baseline with drive eval --json and say "
            "why in the commit)" + _simd_hint(self.config.stash[EXACT_BASELINE])
        )

    def baseline(self) -> Baseline | None:
        """The baseline file's scores, read once per test process."""
        settings: Settings = self.config.stash[SETTINGS]
        if settings.baseline is None:
            return None
        if BASELINE not in self.config.stash:
            from drive.testing.episodes import Baseline

            self.config.stash[BASELINE] = Baseline.load(settings.baseline)
        return self.config.stash[BASELINE]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        """The verdict's message alone for a failed scenario, one line for a bad name or file;
        pytest's traceback for anything else (a planner that raises, say)."""
        from sims.strict import ConfigError

        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        if isinstance(excinfo.value, ConfigError):
            return f"error: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.scenario.id} seed {self.seed}"


def _describe(stack: dict[str, str]) -> str:
    return ", ".join(f"{stage}={name}" for stage, name in stack.items())


def _simd_hint(baseline: dict[str, Any]) -> str:
    """Where the baseline was made on a CPU that numpy drives with other SIMD extensions, say so:
    an exact replay holds only on the same arithmetic (:func:`sims.provenance.numpy_simd`)."""
    from sims.provenance import numpy_simd

    made_on = baseline.get("provenance", {}).get("versions", {}).get("numpy-simd")
    here = numpy_simd()
    if made_on is None or made_on == here:
        return ""
    return (
        f"; the baseline was made where numpy dispatched to {made_on!r}, this machine to "
        f"{here!r}: run with NPY_DISABLE_CPU_FEATURES naming the extensions it lacks, or "
        "regenerate the baseline here"
    )
