"""An episode's time series for reports: the signals its metrics judge, one value per step.

Stored in the run's JSON beside the episode records (never inside them, so that comparing two runs
episode by episode still compares only metrics), compactly: numbers rounded to what a plot shows,
NaN as null, and the lane and the decision as runs of equal values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from drive.episode import scoring
from drive.episode.trajectory import Trajectory

DECIMALS = 3  # millimetres, milliseconds: below anything a plot or a reader resolves
SIGNALS = (
    "speed_mps",
    "speed_limit_mps",
    "longitudinal_acceleration_mps2",
    "longitudinal_jerk_mps3",
    "lateral_acceleration_mps2",
    "ttc_s",
    "time_gap_s",
)
"""The sampled signals of :class:`EpisodeSeries`, in order."""


@dataclass(frozen=True)
class EpisodeSeries:
    """One episode's signals, one value per simulation step (NaN where a signal is undefined).

    :param dt_s: the simulation step [s].
    :param signals: the arrays named in :data:`SIGNALS`.
    :param lanes: ``(first step, lane index)`` for each run of steps in one lane.
    :param decisions: ``(first step, decision)`` for each run of steps under one decision.
    """

    dt_s: float
    signals: dict[str, np.ndarray]
    lanes: tuple[tuple[int, int], ...]
    decisions: tuple[tuple[int, str], ...]

    @property
    def steps(self) -> int:
        return len(self.signals["speed_mps"])

    @property
    def time_s(self) -> np.ndarray:
        """The time after each step [s]."""
        return self.dt_s * np.arange(1, self.steps + 1)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (see :func:`series_from_json` for the way back)."""
        return {
            "dt_s": self.dt_s,
            **{name: _numbers(self.signals[name]) for name in SIGNALS},
            "lanes": [list(run) for run in self.lanes],
            "decisions": [list(run) for run in self.decisions],
        }


def episode_series(trajectory: Trajectory) -> EpisodeSeries:
    """The series of a recorded episode: speed, nuPlan-filtered accelerations and jerk, TTC and
    time gap to the vehicle ahead, the lane and the plan's decision.

    :param trajectory: the episode as recorded.
    :return: its series.
    """
    steps = len(trajectory.speed_mps)
    comfort = scoring.comfort_series(trajectory)
    nan = np.full(steps, np.nan)
    signals = {
        "speed_mps": np.asarray(trajectory.speed_mps, dtype=np.float64),
        "speed_limit_mps": np.asarray(trajectory.speed_limit_mps, dtype=np.float64),
        "longitudinal_acceleration_mps2": nan
        if comfort is None
        else comfort["longitudinal_acceleration_mps2"],
        "longitudinal_jerk_mps3": nan if comfort is None else comfort["longitudinal_jerk_mps3"],
        "lateral_acceleration_mps2": nan
        if comfort is None
        else comfort["lateral_acceleration_mps2"],
        "ttc_s": scoring.time_to_collision_series_s(trajectory),
        "time_gap_s": scoring.time_gap_series_s(trajectory),
    }
    lanes = [] if trajectory.lane_index is None else [int(i) for i in trajectory.lane_index]
    return EpisodeSeries(
        dt_s=trajectory.dt_s,
        signals=signals,
        lanes=tuple(runs(lanes)),
        decisions=tuple(runs(list(trajectory.decisions))),
    )


def series_from_json(record: dict[str, Any]) -> EpisodeSeries:
    """Read back :meth:`EpisodeSeries.to_json` (raises KeyError/TypeError on a malformed record)."""
    signals = {
        name: np.array([math.nan if v is None else float(v) for v in record[name]])
        for name in SIGNALS
    }
    return EpisodeSeries(
        dt_s=float(record["dt_s"]),
        signals=signals,
        lanes=tuple((int(step), int(lane)) for step, lane in record["lanes"]),
        decisions=tuple((int(step), str(decision)) for step, decision in record["decisions"]),
    )


def runs(values: list[Any]) -> list[tuple[int, Any]]:
    """``(first index, value)`` of each run of equal consecutive values.

    :param values: any sequence of comparable values.
    :return: e.g. ``[1, 1, 2, 1] -> [(0, 1), (2, 2), (3, 1)]``.
    """
    return [(k, value) for k, value in enumerate(values) if k == 0 or values[k - 1] != value]


def _numbers(values: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(v) else round(v, DECIMALS) for v in values.tolist()]
