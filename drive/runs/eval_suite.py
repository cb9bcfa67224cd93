"""``drive eval``: run a scenario suite with a stack, judge every episode, compare with a baseline."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drive.episode.loop import EpisodeResult, run_episode
from drive.episode.predicates import PredicateResult, evaluate
from drive.episode.stack import StackSpec
from drive.runs.parallel import run_in_processes
from drive.runs.rollout import package_versions
from sims.machine import machine_description
from sims.scenario import Scenario
from sims.strict import ConfigError
from sims.suite import Suite


@dataclass(frozen=True)
class JudgedEpisode:
    """An episode with the verdict of its scenario's predicates."""

    result: EpisodeResult
    predicates: tuple[PredicateResult, ...]

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.predicates)


def judge(
    scenario: Scenario, spec: StackSpec, seed: int, *, video_path: Path | None = None
) -> JudgedEpisode:
    """Run one episode and check its scenario's criteria."""
    result = run_episode(scenario, spec, seed, video_path=video_path)
    return JudgedEpisode(result, tuple(evaluate(scenario.criteria, result.metrics)))


def run_suite(
    scenarios: list[Scenario],
    spec: StackSpec,
    *,
    workers: int = 1,
    on_episode: Callable[[JudgedEpisode], None] | None = None,
) -> list[JudgedEpisode]:
    """Run every scenario on each of its seeds; results come back in suite order."""
    jobs = [(scenario, seed) for scenario in scenarios for seed in scenario.seeds]
    done: dict[tuple[str, int], JudgedEpisode] = {}
    with closing(_run(jobs, spec, workers)) as finished:  # closed even on Ctrl-C
        for judged in finished:
            done[(judged.result.scenario, judged.result.seed)] = judged
            if on_episode is not None:
                on_episode(judged)
    return [done[(scenario.id, seed)] for scenario, seed in jobs]


def _run(
    jobs: list[tuple[Scenario, int]], spec: StackSpec, workers: int
) -> Generator[JudgedEpisode, None, None]:
    # Longest scenarios first, so that the workers finish together.
    ordered = sorted(jobs, key=lambda job: -job[0].duration_s * job[0].simulation_hz)
    return run_in_processes(
        judge, [(scenario, spec, seed) for scenario, seed in ordered], workers=workers
    )


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
                    p.name, {"passed": True, "threshold": p.threshold, "values": []}
                )
                entry["passed"] = entry["passed"] and p.passed
                entry["values"].append(p.value)
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
        "timing": {"machine": machine_description()},
        "scenarios": by_scenario,
        "score": round(float(np.mean([s["score"] for s in by_scenario.values()])), 6)
        if by_scenario
        else 0.0,
        "passed": all(s["passed"] for s in by_scenario.values()),
        "complete": True,
    }


def regressions(
    document: dict[str, Any], baseline_path: Path, tolerance: float
) -> list[dict[str, Any]]:
    """Scenarios whose score fell by more than ``tolerance`` below the baseline results file."""
    try:
        baseline = json.loads(Path(baseline_path).read_text())
        base_scores = {sid: float(entry["score"]) for sid, entry in baseline["scenarios"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"{baseline_path}: not a drive eval results file ({error})") from None
    flagged = []
    for scenario_id, entry in document["scenarios"].items():
        before = base_scores.get(scenario_id)
        if before is not None and before - entry["score"] > tolerance:
            flagged.append({"scenario": scenario_id, "baseline": before, "score": entry["score"]})
    return flagged


def failed_predicates(entry: dict[str, Any]) -> list[str]:
    """``name (values)`` of each predicate a scenario failed on some seed."""
    return [
        f"{name} {entry_values(values)}"
        for name, values in entry["predicates"].items()
        if not values["passed"]
    ]


def entry_values(predicate: dict[str, Any]) -> str:
    return f"(measured {predicate['values']}, needed {predicate['threshold']})"
