"""Several runs side by side: collision rates and speeds with their intervals, and the paired
differences of each run from the first over the episodes both ran (same scenario, same seed).

The intervals are :mod:`drive.runs.comparison`'s (Wilson for rates, Student's t for means), so the
report and ``drive compare`` state the same uncertainty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drive.report.runs import RunView
from drive.runs.comparison import collision_interval, mean_interval


def comparison_rows(runs: list[RunView]) -> list[dict[str, Any]]:
    """One row per run, in the shape :func:`drive.runs.comparison.comparison_figure` draws.

    :param runs: the runs; the first is the reference of the paired differences.
    :return: rows with ``planner`` (the run's label), ``episodes``, ``collision_rate``,
        ``collision_interval``, ``mean_speed_mps``, ``speed_interval_mps``, ``mean_score``,
        ``pairs`` and the differences from the first run as text (``score_difference``,
        ``speed_difference``).
    """
    reference = _by_episode(runs[0])
    rows = []
    for run in runs:
        episodes = run.episodes
        speeds = [float(e.metrics["mean_speed_mps"]) for e in episodes]
        collisions = sum(bool(e.metrics["collided"]) for e in episodes)
        mine = _by_episode(run)
        shared = sorted(mine.keys() & reference.keys()) if run is not runs[0] else []
        rows.append(
            {
                "index": run.index,
                "planner": run.label,
                "episodes": len(episodes),
                "collision_rate": collisions / max(len(episodes), 1),
                "collision_interval": collision_interval(collisions, max(len(episodes), 1)),
                "mean_speed_mps": float(np.mean(speeds)) if speeds else 0.0,
                "speed_interval_mps": mean_interval(speeds),
                "mean_score": float(np.mean([e.score for e in episodes])) if episodes else 0.0,
                "pairs": len(shared),
                "score_difference": describe_difference(
                    [mine[key][0] - reference[key][0] for key in shared]
                ),
                "speed_difference": describe_difference(
                    [mine[key][1] - reference[key][1] for key in shared]
                ),
            }
        )
    return rows


def describe_difference(differences: list[float]) -> str:
    """``mean [low, high]`` of paired differences (``-`` with none, no interval with one)."""
    if not differences:
        return "-"
    mean = float(np.mean(differences))
    interval = mean_interval(differences)
    if interval is None:
        return f"{mean:+.3f}"
    return f"{mean:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def _by_episode(run: RunView) -> dict[tuple[str, int], tuple[float, float]]:
    """Each episode's (score, mean speed) by (scenario, seed)."""
    return {
        (e.scenario, e.seed): (e.score, float(e.metrics["mean_speed_mps"])) for e in run.episodes
    }
