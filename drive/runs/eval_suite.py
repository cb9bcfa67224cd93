"""``drive eval``: run a scenario suite with a stack, judge every episode, compare with a baseline."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drive.episode.loop import EpisodeResult, run_episode
from drive.episode.metrics import EpisodeMetrics
from drive.episode.predicates import PredicateResult, evaluate
from drive.episode.series import episode_series
from drive.episode.stack import StackSpec
from sims.files import atomic_path, remove_stale
from sims.machine import machine_description
from sims.parallel import IN_PROCESS, Workers, run_jobs
from sims.provenance import package_versions, provenance
from sims.reading import read_json, refusing
from sims.scenario import Scenario
from sims.strict import ConfigError
from sims.suite import SUITE_DIR, Suite

SHIPPED_BASELINE = SUITE_DIR / "regression-baseline.json"
"""The default stack's ``drive eval --suite regression --json``: the closed-loop tests compare every
episode with it exactly, so a change of behaviour lands with this file regenerated."""


@dataclass(frozen=True)
class JudgedEpisode:
    """An episode with the verdict of its scenario's predicates."""

    result: EpisodeResult
    predicates: tuple[PredicateResult, ...]
    series: dict[str, Any] | None = None  # the episode's time series (EpisodeSeries.to_json())

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.predicates)


def judge(
    scenario: Scenario, spec: StackSpec, seed: int, *, video_path: Path | None = None
) -> JudgedEpisode:
    """Run one episode and check its scenario's criteria."""
    result = run_episode(scenario, spec, seed, video_path=video_path)
    series = None if result.trajectory is None else episode_series(result.trajectory).to_json()
    return JudgedEpisode(result, tuple(evaluate(scenario.criteria, result.metrics)), series)


def run_suite(
    scenarios: list[Scenario],
    spec: StackSpec,
    *,
    workers: Workers = IN_PROCESS,
    on_episode: Callable[[JudgedEpisode], None] | None = None,
    finished_before: dict[tuple[str, int], JudgedEpisode] | None = None,
) -> list[JudgedEpisode]:
    """Run every scenario on each of its seeds; results come back in suite order.

    :param scenarios: the suite's scenarios.
    :param spec: the stack.
    :param workers: where the episodes run (processes or Ray).
    :param on_episode: called in this process as each episode finishes.
    :param finished_before: episodes of an interrupted run (:class:`SuiteJournal`), not run again.
    :return: every episode, judged.
    """
    jobs = [(scenario, seed) for scenario in scenarios for seed in scenario.seeds]
    done: dict[tuple[str, int], JudgedEpisode] = dict(finished_before or {})
    to_run = [(scenario, seed) for scenario, seed in jobs if (scenario.id, seed) not in done]
    with closing(_run(to_run, spec, workers)) as finished:  # closed even on Ctrl-C
        for judged in finished:
            done[(judged.result.scenario, judged.result.seed)] = judged
            if on_episode is not None:
                on_episode(judged)
    return [done[(scenario.id, seed)] for scenario, seed in jobs]


def _run(
    jobs: list[tuple[Scenario, int]], spec: StackSpec, workers: Workers
) -> Generator[JudgedEpisode, None, None]:
    # Longest scenarios first, so that the workers finish together.
    ordered = sorted(jobs, key=lambda job: -job[0].duration_s * job[0].simulation_hz)
    return run_jobs(
        _judge_with,
        [(scenario, seed) for scenario, seed in ordered],
        workers=workers,
        shared=(spec,),
        files=spec.files(),
    )


def _judge_with(spec: StackSpec, scenario: Scenario, seed: int) -> JudgedEpisode:
    return judge(scenario, spec, seed)


class SuiteJournal:
    """The finished episodes of a ``drive eval --json F`` still running, in ``F.partial``, so that
    a run killed at any moment loses at most the episodes in flight, and ``--resume`` runs only the
    others. Removed once ``F`` is written.

    The journal is JSON Lines: the eval's key, then one line per episode, appended and flushed to
    disk as each episode ends. Appending costs the same at the 1,000th episode as at the first,
    where rewriting the whole file would grow with the run (docs/cluster.md). A line cut short by
    a kill is the episode in flight, and is dropped when the journal is read back.

    :param json_path: the eval's ``--json``.
    :param suite_id: the suite, as given.
    :param spec: the stack.
    :param resume: continue the episodes in ``F.partial``; without it, finding one is an error.
    :param plant: the ``--plant`` every scenario drives, if given.
    """

    def __init__(
        self,
        json_path: Path,
        suite_id: str,
        spec: StackSpec,
        *,
        resume: bool,
        plant: str | None = None,
    ) -> None:
        self.path = json_path.with_name(json_path.name + ".partial")
        self.key: dict[str, Any] = {"suite": suite_id, "stack": spec.as_dict()}
        if plant is not None:  # --plant: every scenario drives this car
            self.key["plant"] = plant
        self.records: list[dict[str, Any]] = []
        if resume:  # what a killed eval was writing: F's temporaries, nothing else
            remove_stale(json_path.parent, f".{json_path.name}.*")
        if not self.path.exists():
            return
        if not resume:
            raise ConfigError(
                f"{self.path}: an interrupted eval left its episodes here; --resume continues it"
            )
        key, self.records = self._read()
        if key != self.key:
            raise ConfigError(
                f"{self.path}: from an eval of {key}, not {self.key}; "
                "give the same suite and stack, or another --json"
            )
        # Rewritten whole, once: without the line a kill cut short, appends start on a new line.
        self._rewrite()

    def _read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The journal's key and its whole episode lines."""
        lines = self.path.read_text().split("\n")
        # Every whole line ends with a newline: the last piece is empty, or the line in flight.
        whole = lines[:-1]
        with refusing(self.path, "partial eval"):
            if not whole:
                raise ValueError("no key line")
            key = json.loads(whole[0])["key"]
            return key, [json.loads(line) for line in whole[1:]]

    def _rewrite(self) -> None:
        lines = [_line({"key": self.key}), *map(_line, self.records)]
        with atomic_path(self.path) as temporary:
            temporary.write_text("".join(lines))

    def finished(self, scenarios: list[Scenario]) -> dict[tuple[str, int], JudgedEpisode]:
        """The journal's episodes, judged again by their scenario's criteria."""
        by_id = {scenario.id: scenario for scenario in scenarios}
        done = {}
        with refusing(self.path, "partial eval"):
            for record in self.records:
                metrics = EpisodeMetrics(**record["metrics"])
                result = EpisodeResult(
                    record["scenario"], record["seed"], metrics, record["timing"]
                )
                predicates = evaluate(by_id[result.scenario].criteria, metrics)
                done[(result.scenario, result.seed)] = JudgedEpisode(
                    result, tuple(predicates), record.get("series")
                )
        return done

    def add(self, judged: JudgedEpisode) -> None:
        """Record one more finished episode: one line appended, on disk before this returns."""
        result = judged.result
        record = {
            "scenario": result.scenario,
            "seed": result.seed,
            "metrics": asdict(result.metrics),
            "timing": result.timing,
            "series": judged.series,
        }
        self.records.append(record)
        if not self.path.exists():  # the first episode: the key and it, atomically
            self._rewrite()
            return
        with self.path.open("a") as journal:
            journal.write(_line(record))
            journal.flush()
            os.fsync(journal.fileno())

    def close(self) -> None:
        """The eval's JSON is written: the journal is done with."""
        self.path.unlink(missing_ok=True)


def _line(document: dict[str, Any]) -> str:
    """One journal line: strict JSON (NaN refused, as write_json does), ended by a newline."""
    return json.dumps(document, allow_nan=False) + "\n"


def suite_document(
    suite_id: str,
    suite: Suite,
    scenarios: list[Scenario],
    spec: StackSpec,
    judged: list[JudgedEpisode],
) -> dict[str, Any]:
    """The eval JSON: per scenario its env, score (mean over seeds), verdict, predicates and time."""
    by_scenario: dict[str, Any] = {}
    for scenario in scenarios:
        episodes = [j for j in judged if j.result.scenario == scenario.id]
        if not episodes:
            continue
        predicates: dict[str, Any] = {}
        for j in episodes:
            for p in j.predicates:
                entry = predicates.setdefault(
                    p.name, {"passed": True, "threshold": p.threshold, "values": [], "verdicts": []}
                )
                entry["passed"] = entry["passed"] and p.passed
                entry["values"].append(p.value)
                entry["verdicts"].append(p.passed)  # per episode, in the order of "episodes"
        by_scenario[scenario.id] = {
            "env": scenario.env,
            "score": round(float(np.mean([j.result.metrics.score for j in episodes])), 6),
            "passed": all(j.passed for j in episodes),
            "predicates": predicates,
            "episodes": [
                {"seed": j.result.seed, "passed": j.passed, **asdict(j.result.metrics)}
                for j in episodes
            ],
            "wall_s": round(sum(j.result.timing["wall_s"] for j in episodes), 3),
        }
    return {
        "config": {
            "suite": suite_id,
            "stack": spec.as_dict(),
            "tolerance": suite.tolerance,
            "versions": package_versions(),
        },
        "provenance": provenance(spec.files(plants={scenario.plant for scenario in scenarios})),
        "timing": {"machine": machine_description()},
        "scenarios": by_scenario,
        "series": {  # each episode's time series, for `drive report`
            scenario_id: {
                str(j.result.seed): j.series
                for j in judged
                if j.result.scenario == scenario_id and j.series is not None
            }
            for scenario_id in by_scenario
        },
        "score": round(float(np.mean([s["score"] for s in by_scenario.values()])), 6)
        if by_scenario
        else 0.0,
        "passed": all(s["passed"] for s in by_scenario.values()),
        "complete": True,
    }


def read_baseline(baseline_path: Path) -> dict[str, Any]:
    """Read an earlier ``drive eval --json`` file, checking the parts a comparison reads.

    :raises ConfigError: one line naming the file and what is wrong with it.
    """
    baseline = read_json(Path(baseline_path), "drive eval results file")
    try:
        scenarios = baseline["scenarios"]
        for scenario_id, entry in scenarios.items():
            score = entry["score"]
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise TypeError(f"scenario {scenario_id!r}: score {score!r} is not a number")
            for episode in entry["episodes"]:
                if not isinstance(episode, dict) or not isinstance(episode.get("seed"), int):
                    raise TypeError(f"scenario {scenario_id!r}: an episode without an integer seed")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{baseline_path}: not a drive eval results file ({error!r})") from None
    return baseline


def regressions(
    document: dict[str, Any], baseline: dict[str, Any], tolerance: float
) -> list[dict[str, Any]]:
    """Scenarios whose score fell by more than ``tolerance`` below the baseline (:func:`read_baseline`)."""
    base_scores = {sid: float(entry["score"]) for sid, entry in baseline["scenarios"].items()}
    flagged = []
    for scenario_id, entry in document["scenarios"].items():
        before = base_scores.get(scenario_id)
        if before is not None and before - entry["score"] > tolerance:
            flagged.append({"scenario": scenario_id, "baseline": before, "score": entry["score"]})
    return flagged


@dataclass(frozen=True)
class MetricChange:
    """One metric of one episode that differs from the baseline's (None: absent on that side)."""

    scenario: str
    seed: int
    metric: str
    baseline: Any
    value: Any

    def describe(self) -> str:
        return (
            f"{self.scenario} seed {self.seed}: {self.metric} {self.baseline!r} -> {self.value!r}"
        )


def episode_changes(
    scenario_id: str, episode: dict[str, Any], baseline: dict[str, Any]
) -> list[MetricChange]:
    """Every metric of one episode record (``{"seed", "passed", **metrics}``) that differs at all
    from the same scenario and seed in ``baseline``: the stack is deterministic, so any difference
    is a change of behaviour (timing and provenance live outside the episode records).

    :param scenario_id: the episode's scenario.
    :param episode: its record, as in an eval JSON's ``scenarios[id]["episodes"]``.
    :param baseline: a document from :func:`read_baseline`.
    :return: the changes, by metric name; one ``episode`` change when the baseline lacks it.
    """
    seed = episode["seed"]
    entry = baseline["scenarios"].get(scenario_id, {"episodes": []})
    before = next((e for e in entry["episodes"] if e["seed"] == seed), None)
    if before is None:
        return [MetricChange(scenario_id, seed, "episode", None, "present")]
    # Through JSON, as the baseline went: a tuple becomes a list, NaN stays NaN.
    now = json.loads(json.dumps(episode))
    return [
        MetricChange(scenario_id, seed, name, before.get(name), now.get(name))
        for name in sorted(set(before) | set(now))
        if not _same(before.get(name), now.get(name))
    ]


def metric_changes(document: dict[str, Any], baseline: dict[str, Any]) -> list[MetricChange]:
    """Every episode metric of an eval ``document`` that differs from ``baseline``, and every
    episode of a scenario both ran that only one of them has."""
    changes: list[MetricChange] = []
    for scenario_id, entry in document["scenarios"].items():
        for episode in entry["episodes"]:
            changes += episode_changes(scenario_id, episode, baseline)
        seeds = {episode["seed"] for episode in entry["episodes"]}
        for before in baseline["scenarios"].get(scenario_id, {"episodes": []})["episodes"]:
            if before["seed"] not in seeds:
                changes.append(
                    MetricChange(scenario_id, before["seed"], "episode", "present", None)
                )
    return changes


def _same(before: Any, now: Any) -> bool:
    if isinstance(before, float) and isinstance(now, float) and before != before and now != now:
        return True  # NaN on both sides
    return bool(before == now and type(before) is type(now))


def failed_predicates(entry: dict[str, Any]) -> list[str]:
    """``name (values)`` of each predicate a scenario failed on some seed."""
    return [
        f"{name} {entry_values(values)}"
        for name, values in entry["predicates"].items()
        if not values["passed"]
    ]


def entry_values(predicate: dict[str, Any]) -> str:
    return f"(measured {predicate['values']}, needed {predicate['threshold']})"
