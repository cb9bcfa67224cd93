"""Per-episode metrics as pure functions of the recorded trajectory.

``episode_return`` integrates highway-env's per-step reward over time (sum of reward x dt), so it equals
highway-env's usual return at a 1 Hz policy whatever our control rate, and stays comparable to
published highway-env returns.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np

Termination = Literal["collision", "time", "environment"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """What one episode recorded, one entry per simulation step (the state after the step).

    ``box_on_road`` is nuPlan's drivable-area test of the ego's box; ``lead_*`` describe the vehicle
    ahead in the ego's lane (NaN when there is none); ``traffic_speed_mps`` is the mean speed of the
    moving vehicles around the ego (NaN when there are none); ``edges`` name the road edge the ego
    is on (``"start>end"``) and ``route_edges`` the scenario's route, if it has one.
    """

    dt_s: float
    x_m: np.ndarray
    y_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    reward: np.ndarray
    crashed: np.ndarray
    box_on_road: np.ndarray
    speed_limit_mps: np.ndarray
    lead_gap_m: np.ndarray
    lead_speed_mps: np.ndarray
    traffic_speed_mps: np.ndarray
    heading_error_rad: np.ndarray
    changing_lane: np.ndarray
    lane_change_started: np.ndarray
    edges: tuple[str, ...] = ()
    route_edges: tuple[str, ...] = ()
    crash_other_ahead: bool | None = None
    crash_while_changing: bool | None = None
    controller_fallbacks: int = 0

    def head(self, steps: int) -> Trajectory:
        """The first ``steps`` steps."""
        cut = {
            f.name: getattr(self, f.name)[:steps]
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return replace(self, edges=self.edges[:steps], **cut)


@dataclass(frozen=True)
class EpisodeMetrics:
    """One episode's outcome. All figures are deterministic for a given scenario, stack and seed.

    See :mod:`drive.scoring` for the definitions and sources of the driving metrics.
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
    score: float


def episode_metrics(trajectory: Trajectory, *, ended_by_environment: bool) -> EpisodeMetrics:
    """Compute :class:`EpisodeMetrics` from a trajectory.

    :param trajectory: the recorded steps, starting with the state after the first step.
    :param ended_by_environment: highway-env ended the episode (collision, arrival, end of road).
    """
    from drive import scoring  # scoring reads Trajectory from this module

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
        score=_round(scoring.driving_score(t)),
    )


def path_length(x_m: np.ndarray, y_m: np.ndarray) -> float:
    """Length of the polyline through the points [m]."""
    if len(x_m) < 2:
        return 0.0
    return float(np.sum(np.hypot(np.diff(x_m), np.diff(y_m))))


def derivative(values: np.ndarray, dt_s: float) -> np.ndarray:
    """Backward finite difference, one shorter than ``values``."""
    return np.diff(np.asarray(values, dtype=np.float64)) / dt_s


def lateral_acceleration(speed_mps: np.ndarray, heading_rad: np.ndarray, dt_s: float) -> np.ndarray:
    """Lateral acceleration [m/s2] as speed x yaw rate, from headings sampled every ``dt_s``."""
    yaw_rate = derivative(np.unwrap(heading_rad), dt_s)
    return np.asarray(speed_mps[1:]) * yaw_rate


def _peak(values: np.ndarray) -> float:
    return float(np.max(np.abs(values))) if len(values) else 0.0


def _round(value: float) -> float:
    """Round for stable, readable JSON (micro-units are below any physical meaning here)."""
    return round(float(value), 6)


def _round_or_none(value: float | None) -> float | None:
    return None if value is None else _round(value)
