"""Per-episode metrics as pure functions of the recorded trajectory.

``episode_return`` integrates highway-env's per-step reward over time (sum of reward x dt), so it equals
highway-env's usual return at a 1 Hz policy whatever our control rate, and stays comparable to
published highway-env returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from drive.episode import scoring
from drive.episode.trajectory import Trajectory, derivative, lateral_acceleration, path_length

Termination = Literal["collision", "time", "environment"]


@dataclass(frozen=True)
class EpisodeMetrics:
    """One episode's outcome. All figures are deterministic for a given scenario, stack and seed.

    See :mod:`drive.episode.scoring` for the definitions and sources of the driving metrics.
    """

    steps: int
    duration_s: float
    termination: Termination
    collided: bool
    at_fault_collision: bool
    off_road: bool
    wrong_way_m: float
    distance_m: float
    mean_speed_mps: float
    progress_ratio: float
    min_ttc_s: float | None
    min_time_gap_s: float | None
    speed_limit_compliance: float
    comfortable: bool
    route_completion: float | None
    episode_return: float
    lane_changes: int
    lane_changes_per_min: float
    peak_abs_acceleration_mps2: float
    peak_abs_jerk_mps3: float
    peak_abs_lateral_acceleration_mps2: float
    controller_fallbacks: int
    planner_overrides: int
    score: float


def episode_metrics(trajectory: Trajectory, *, ended_by_environment: bool) -> EpisodeMetrics:
    """Compute :class:`EpisodeMetrics` from a trajectory.

    :param trajectory: the recorded steps, starting with the state after the first step.
    :param ended_by_environment: highway-env ended the episode (collision, arrival, end of road).
    """
    t = trajectory
    steps = len(t.speed_mps)
    collided = bool(np.any(t.crashed))
    if collided:
        termination: Termination = "collision"
    elif ended_by_environment:
        termination = "environment"
    else:
        termination = "time"
    acceleration = derivative(t.speed_mps, t.dt_s)
    duration_s = steps * t.dt_s
    lane_changes = int(np.sum(t.lane_change_started))
    return EpisodeMetrics(
        steps=steps,
        duration_s=_round(duration_s),
        termination=termination,
        collided=collided,
        at_fault_collision=scoring.at_fault_collision(t),
        off_road=not scoring.drivable_area_compliance(t),
        wrong_way_m=_round(scoring.wrong_way_distance_m(t)),
        distance_m=_round(path_length(t.x_m, t.y_m)),
        mean_speed_mps=_round(float(np.mean(t.speed_mps)) if steps else 0.0),
        progress_ratio=_round(scoring.progress_ratio(t)),
        min_ttc_s=_round_or_none(scoring.min_time_to_collision_s(t)),
        min_time_gap_s=_round_or_none(scoring.min_time_gap_s(t)),
        speed_limit_compliance=_round(scoring.speed_limit_compliance(t)),
        comfortable=scoring.is_comfortable(t),
        route_completion=_round_or_none(scoring.route_completion(t)),
        episode_return=_round(float(np.sum(t.reward)) * t.dt_s),
        lane_changes=lane_changes,
        lane_changes_per_min=_round(lane_changes / max(duration_s / 60.0, 1e-9)),
        peak_abs_acceleration_mps2=_round(_peak(acceleration)),
        peak_abs_jerk_mps3=_round(_peak(derivative(acceleration, t.dt_s))),
        peak_abs_lateral_acceleration_mps2=_round(
            _peak(lateral_acceleration(t.speed_mps, t.heading_rad, t.dt_s))
        ),
        controller_fallbacks=t.controller_fallbacks,
        planner_overrides=t.planner_overrides,
        score=_round(scoring.driving_score(t)),
    )


def _peak(values: np.ndarray) -> float:
    return float(np.max(np.abs(values))) if len(values) else 0.0


def _round(value: float) -> float:
    """Round for stable, readable JSON (micro-units are below any physical meaning here)."""
    return round(float(value), 6)


def _round_or_none(value: float | None) -> float | None:
    return None if value is None else _round(value)
