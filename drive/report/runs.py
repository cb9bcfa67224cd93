"""The run files a report shows, read into one shape: an eval suite's and a rollout's JSON alike.

A ``drive eval --json`` file has scenarios, each with its episodes and predicates; a
``drive rollout --json`` file has one scenario's episodes, judged by no predicate. Both carry each
episode's time series under ``series`` (:mod:`drive.episode.series`); a file written before that
existed still reads, its episodes without plots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drive.episode.series import EpisodeSeries, series_from_json
from sims.reading import read_json, refusing
from sims.strict import ConfigError


@dataclass(frozen=True)
class PredicateView:
    """One predicate of one episode: what it measured, what it needed, and its verdict."""

    name: str
    value: Any
    threshold: Any
    passed: bool | None  # None: the file does not say (written before verdicts were kept)


@dataclass(frozen=True)
class EpisodeView:
    """One episode: its metrics (the JSON record), predicates and time series."""

    run: int
    scenario: str
    seed: int
    passed: bool | None  # None: a rollout, which no predicate judges
    metrics: dict[str, Any]
    predicates: tuple[PredicateView, ...]
    series: EpisodeSeries | None

    @property
    def slug(self) -> str:
        """The episode's file name stem in a report: unique across the report's runs, and a safe
        file name whatever the scenario's id (a path, say)."""
        scenario = re.sub(r"[^A-Za-z0-9_.-]", "_", self.scenario)
        return f"r{self.run}-{scenario}-s{self.seed}"

    @property
    def score(self) -> float:
        return float(self.metrics["score"])


@dataclass(frozen=True)
class ScenarioView:
    """One scenario of a run: its verdict, mean score and episodes."""

    scenario: str
    env: str
    passed: bool | None
    score: float
    episodes: tuple[EpisodeView, ...]


@dataclass(frozen=True)
class RunView:
    """One run file: an eval suite (``kind == "eval"``) or a rollout (``"rollout"``)."""

    index: int
    path: Path
    kind: str
    title: str
    stack: dict[str, str]
    scenarios: tuple[ScenarioView, ...]
    passed: bool | None
    score: float
    provenance: dict[str, Any]

    @property
    def label(self) -> str:
        """A short name for tables and plot legends: the file's stem and the planner."""
        return f"{self.path.stem} ({self.stack.get('planner', '?')})"

    @property
    def episodes(self) -> list[EpisodeView]:
        return [episode for scenario in self.scenarios for episode in scenario.episodes]


def read_run(path: Path, index: int) -> RunView:
    """Read an eval or rollout JSON file.

    :param path: the file.
    :param index: its place among the report's runs (names its episodes' pages).
    :raises ConfigError: one line naming the file and what is wrong with it.
    """
    document = read_json(path, "drive eval or rollout results file", allow_nan=True)
    with refusing(path, "drive eval or rollout results file"):
        if "scenarios" in document:
            return _eval_run(path, index, document)
        if "episodes" in document and "aggregate" in document:
            return _rollout_run(path, index, document)
    raise ConfigError(f"{path}: neither a drive eval nor a drive rollout results file")


def _eval_run(path: Path, index: int, document: dict[str, Any]) -> RunView:
    series = document.get("series", {})
    scenarios = []
    for scenario_id, entry in document["scenarios"].items():
        episodes = []
        for k, record in enumerate(entry["episodes"]):
            predicates = tuple(
                PredicateView(
                    name,
                    predicate["values"][k],
                    predicate["threshold"],
                    predicate["verdicts"][k] if "verdicts" in predicate else None,
                )
                for name, predicate in entry["predicates"].items()
            )
            episodes.append(
                _episode(index, scenario_id, record, predicates, series.get(scenario_id, {}))
            )
        scenarios.append(
            ScenarioView(
                scenario_id,
                str(entry["env"]),
                bool(entry["passed"]),
                float(entry["score"]),
                tuple(episodes),
            )
        )
    config = document["config"]
    return RunView(
        index=index,
        path=path,
        kind="eval",
        title=f"suite {config['suite']}",
        stack=dict(config["stack"]),
        scenarios=tuple(scenarios),
        passed=bool(document["passed"]),
        score=float(document["score"]),
        provenance=document.get("provenance") or {},
    )


def _rollout_run(path: Path, index: int, document: dict[str, Any]) -> RunView:
    config = document["config"]
    scenario_id = str(config["scenario"])
    series = document.get("series", {})
    episodes = tuple(
        _episode(index, scenario_id, record, (), series) for record in document["episodes"]
    )
    scores = [episode.score for episode in episodes]
    score = sum(scores) / len(scores) if scores else 0.0
    scenario = ScenarioView(scenario_id, str(config["env"]), None, score, episodes)
    return RunView(
        index=index,
        path=path,
        kind="rollout",
        title=f"rollout of {scenario_id}",
        stack=dict(config["stack"]),
        scenarios=(scenario,),
        passed=None,
        score=score,
        provenance=document.get("provenance") or {},
    )


def _episode(
    index: int,
    scenario_id: str,
    record: dict[str, Any],
    predicates: tuple[PredicateView, ...],
    series: dict[str, Any],
) -> EpisodeView:
    seed = int(record["seed"])
    found = series.get(str(seed))
    return EpisodeView(
        run=index,
        scenario=scenario_id,
        seed=seed,
        passed=record.get("passed"),
        metrics={key: value for key, value in record.items() if key not in ("seed", "passed")},
        predicates=predicates,
        series=None if found is None else series_from_json(found),
    )
