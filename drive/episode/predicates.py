"""Named pass/fail predicates on an episode's metrics, set by a scenario's ``[criteria]`` table."""

from __future__ import annotations

from dataclasses import dataclass

from drive.episode.metrics import EpisodeMetrics
from drive.episode.scoring import MIN_PROGRESS_RATIO
from sims.scenario import Criteria


@dataclass(frozen=True)
class PredicateResult:
    """One predicate's verdict with the value it measured and the threshold it needed."""

    name: str
    passed: bool
    value: float | bool | None
    threshold: float | bool | None

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return f"{self.name} {verdict}: measured {self.value}, needed {self.threshold}"


def evaluate(criteria: Criteria, metrics: EpisodeMetrics) -> list[PredicateResult]:
    """Check every predicate the criteria ask for, in a fixed order."""
    m = metrics
    results: list[PredicateResult] = []

    def check(
        name: str, passed: bool, value: float | bool | None, threshold: float | bool | None
    ) -> None:
        results.append(PredicateResult(name, bool(passed), value, threshold))

    if criteria.no_at_fault_collision:
        check("no_at_fault_collision", not m.at_fault_collision, m.at_fault_collision, False)
    if criteria.no_collision:
        check("no_collision", not m.collided, m.collided, False)
    if criteria.stays_on_road:
        check("stays_on_road", not m.off_road, m.off_road, False)
    if criteria.makes_progress:
        check(
            "makes_progress",
            m.progress_ratio >= MIN_PROGRESS_RATIO,
            m.progress_ratio,
            MIN_PROGRESS_RATIO,
        )
    if criteria.reaches_destination:
        check("reaches_destination", m.route_completion == 1.0, m.route_completion, 1.0)
    if criteria.min_ttc_s is not None:
        passed = m.min_ttc_s is None or m.min_ttc_s >= criteria.min_ttc_s
        check("min_ttc_s", passed, m.min_ttc_s, criteria.min_ttc_s)
    if criteria.keeps_gap_s is not None:
        passed = m.min_time_gap_s is None or m.min_time_gap_s >= criteria.keeps_gap_s
        check("keeps_gap_s", passed, m.min_time_gap_s, criteria.keeps_gap_s)
    if criteria.min_score is not None:
        check("min_score", m.score >= criteria.min_score, m.score, criteria.min_score)
    if criteria.max_lane_changes_per_min is not None:
        passed = m.lane_changes_per_min <= criteria.max_lane_changes_per_min
        check(
            "max_lane_changes_per_min",
            passed,
            m.lane_changes_per_min,
            criteria.max_lane_changes_per_min,
        )
    if criteria.min_route_completion is not None:
        # A road without a route (no destination) has nothing to complete: the predicate fails.
        share = m.route_completion
        passed = share is not None and share >= criteria.min_route_completion
        check("min_route_completion", passed, share, criteria.min_route_completion)
    if criteria.min_mean_speed_mps is not None:
        passed = m.mean_speed_mps >= criteria.min_mean_speed_mps
        check("min_mean_speed_mps", passed, m.mean_speed_mps, criteria.min_mean_speed_mps)
    return results
