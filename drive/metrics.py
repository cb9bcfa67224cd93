"""Per-episode metrics as pure functions of the recorded trajectory.

``episode_return`` integrates highway-env's per-step reward over time (sum of reward x dt), so it equals
highway-env's usual return at a 1 Hz policy whatever our control rate, and stays comparable to
published highway-env returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Termination = Literal["collision", "time", "environment"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """What one episode recorded, one entry per simulation step (after the step)."""

    dt_s: float
    x_m: np.ndarray
    y_m: np.ndarray
    heading_rad: np.ndarray
    speed_mps: np.ndarray
    reward: np.ndarray
    crashed: np.ndarray
    on_road: np.ndarray
    lane_change_started: np.ndarray  # True where the planner began a lane change
    controller_fallbacks: int


@dataclass(frozen=True)
class EpisodeMetrics:
    """One episode's outcome. All figures are deterministic for a given scenario, stack and seed."""

    steps: int
    duration_s: float
    termination: Termination
    collided: bool
    off_road: bool
    distance_m: float
    mean_speed_mps: float
    episode_return: float
    lane_changes: int
    peak_abs_acceleration_mps2: float
    peak_abs_jerk_mps3: float
    peak_abs_lateral_acceleration_mps2: float
    controller_fallbacks: int


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
    return EpisodeMetrics(
        steps=steps,
        duration_s=_round(steps * t.dt_s),
        termination=termination,
        collided=collided,
        off_road=bool(not np.all(t.on_road)),
        distance_m=_round(path_length(t.x_m, t.y_m)),
        mean_speed_mps=_round(float(np.mean(t.speed_mps)) if steps else 0.0),
        episode_return=_round(float(np.sum(t.reward)) * t.dt_s),
        lane_changes=int(np.sum(t.lane_change_started)),
        peak_abs_acceleration_mps2=_round(_peak(acceleration)),
        peak_abs_jerk_mps3=_round(_peak(derivative(acceleration, t.dt_s))),
        peak_abs_lateral_acceleration_mps2=_round(
            _peak(lateral_acceleration(t.speed_mps, t.heading_rad, t.dt_s))
        ),
        controller_fallbacks=t.controller_fallbacks,
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
