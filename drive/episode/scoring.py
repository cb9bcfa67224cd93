"""Closed-loop driving metrics and score, after nuPlan's closed-loop score, as pure functions.

nuPlan (Caesar et al. 2021; nuplan-devkit ``planning/metrics``) scores a run as
``multipliers x weighted mean``: the multipliers are at-fault collisions, drivable-area compliance,
driving-direction compliance and making progress; the weighted mean takes progress (weight 5),
time-to-collision within bound (5), speed-limit compliance (4) and comfort (2). nuPlan measures
progress against a human expert's; with no expert here, progress is measured against the surrounding
traffic (how fast the vehicles around the ego drove), which keeps the measure fair in a jam.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import savgol_filter

from drive.episode.trajectory import Trajectory

TTC_BOUND_S = 0.95  # [s] nuPlan's time-to-collision bound
MAX_OVERSPEED_MPS = 2.23  # [m/s] nuPlan: overspeeding by this much on average scores 0
MIN_PROGRESS_RATIO = 0.2  # nuPlan's "making progress" threshold
WRONG_WAY_ANGLE_RAD = math.pi / 2  # heading more than this off the lane's is driving against it
MAX_WRONG_WAY_M = 2.0  # [m] nuPlan tolerates this much driving against the lane's direction
COMFORT_BOUNDS = {
    "min_longitudinal_acceleration_mps2": -4.05,
    "max_longitudinal_acceleration_mps2": 2.40,
    "max_abs_lateral_acceleration_mps2": 4.89,
    "max_abs_longitudinal_jerk_mps3": 4.13,
    "max_abs_yaw_rate_radps": 0.95,
    "max_abs_yaw_acceleration_radps2": 1.93,
}
"""nuPlan's comfort bounds (nuplan-devkit ``ego_is_comfortable``)."""
COMFORT_WINDOW_S = 1.0  # [s] Savitzky-Golay window before differentiating, as nuPlan filters
SCORE_WEIGHTS = {"progress": 5.0, "ttc": 5.0, "speed_limit": 4.0, "comfort": 2.0}


def at_fault_collision(trajectory: Trajectory) -> bool:
    """The ego collided and it was its fault: it hit something ahead, or it was changing lanes.

    Being hit from behind or from the side while keeping the lane is not at fault (nuPlan).
    """
    if not np.any(trajectory.crashed):
        return False
    return bool(trajectory.crash_other_ahead) or bool(trajectory.crash_while_changing)


def drivable_area_compliance(trajectory: Trajectory) -> bool:
    """Every corner of the ego's box stayed within 0.3 m of a lane at every step."""
    return bool(np.all(trajectory.box_on_road))


def wrong_way_distance_m(trajectory: Trajectory) -> float:
    """Distance driven with the heading more than 90 degrees off the lane's [m]."""
    wrong = np.abs(trajectory.heading_error_rad) > WRONG_WAY_ANGLE_RAD
    return float(np.sum(trajectory.speed_mps[wrong]) * trajectory.dt_s)


def progress_ratio(trajectory: Trajectory) -> float:
    """The ego's mean speed over that of the moving traffic around it (else its lane's limit), in [0, 1]."""
    if len(trajectory.speed_mps) == 0:
        return 0.0
    traffic = trajectory.traffic_speed_mps
    reference = (
        float(np.nanmean(traffic))
        if np.any(np.isfinite(traffic))
        else float(np.mean(trajectory.speed_limit_mps))
    )
    if reference <= 0:
        return 1.0
    return float(min(1.0, np.mean(trajectory.speed_mps) / reference))


def time_to_collision_series_s(trajectory: Trajectory) -> np.ndarray:
    """Time to collision with the vehicle ahead in the ego's lane at each step [s]; NaN where the
    ego is not closing in on one."""
    closing = trajectory.speed_mps - trajectory.lead_speed_mps
    valid = np.isfinite(trajectory.lead_gap_m) & (closing > 1e-3)
    ttc = np.full(len(trajectory.speed_mps), np.nan)
    ttc[valid] = np.maximum(trajectory.lead_gap_m[valid], 0.0) / closing[valid]
    return ttc


def min_time_to_collision_s(trajectory: Trajectory) -> float | None:
    """Smallest time to collision with the vehicle ahead in the ego's lane [s]; None if never closing."""
    ttc = time_to_collision_series_s(trajectory)
    return float(np.nanmin(ttc)) if np.any(np.isfinite(ttc)) else None


def time_gap_series_s(trajectory: Trajectory) -> np.ndarray:
    """Time headway to the vehicle ahead in the ego's lane at each step [s]; NaN where there is
    none or the ego is (nearly) stopped."""
    valid = np.isfinite(trajectory.lead_gap_m) & (trajectory.speed_mps > 1.0)
    gap = np.full(len(trajectory.speed_mps), np.nan)
    gap[valid] = np.maximum(trajectory.lead_gap_m[valid], 0.0) / trajectory.speed_mps[valid]
    return gap


def min_time_gap_s(trajectory: Trajectory) -> float | None:
    """Smallest time headway to the vehicle ahead in the ego's lane [s], while moving; None if none."""
    gap = time_gap_series_s(trajectory)
    return float(np.nanmin(gap)) if np.any(np.isfinite(gap)) else None


def speed_limit_compliance(trajectory: Trajectory) -> float:
    """1 minus the mean overspeed over :data:`MAX_OVERSPEED_MPS`, floored at 0 (nuPlan)."""
    if len(trajectory.speed_mps) == 0:
        return 1.0
    overspeed = np.maximum(trajectory.speed_mps - trajectory.speed_limit_mps, 0.0)
    return float(max(0.0, 1.0 - np.mean(overspeed) / MAX_OVERSPEED_MPS))


def comfort_series(trajectory: Trajectory) -> dict[str, np.ndarray] | None:
    """The filtered comfort signals at each step, as nuPlan filters them, NaN over the first and
    last half-window (where the filter extrapolates); None when the episode is too short to filter.

    :return: ``longitudinal_acceleration_mps2``, ``longitudinal_jerk_mps3``,
        ``lateral_acceleration_mps2``, ``yaw_rate_radps`` and ``yaw_acceleration_radps2``.
    """
    dt = trajectory.dt_s
    window = max(5, int(round(COMFORT_WINDOW_S / dt)) | 1)  # odd, and long enough for a cubic
    if len(trajectory.speed_mps) < max(window, 5):
        return None
    speed = trajectory.speed_mps
    heading = np.unwrap(trajectory.heading_rad)
    yaw_rate = savgol_filter(heading, window, 2, deriv=1, delta=dt)
    signals = {
        "longitudinal_acceleration_mps2": savgol_filter(speed, window, 2, deriv=1, delta=dt),
        "longitudinal_jerk_mps3": savgol_filter(speed, window, 3, deriv=2, delta=dt),
        "lateral_acceleration_mps2": speed * yaw_rate,
        "yaw_rate_radps": yaw_rate,
        "yaw_acceleration_radps2": savgol_filter(heading, window, 3, deriv=2, delta=dt),
    }
    # The filter extrapolates a polynomial over the first and last half-window: leave those out.
    edge = np.ones(len(speed), dtype=bool)
    edge[window // 2 : len(speed) - window // 2] = False
    for values in signals.values():
        values[edge] = np.nan
    return signals


def comfort_signals(trajectory: Trajectory) -> dict[str, float]:
    """Peak filtered accelerations, jerk and yaw rates, named like :data:`COMFORT_BOUNDS`."""
    series = comfort_series(trajectory)
    if series is None:
        return {key: 0.0 for key in COMFORT_BOUNDS}
    acceleration = series["longitudinal_acceleration_mps2"]
    return {
        "min_longitudinal_acceleration_mps2": float(np.nanmin(acceleration)),
        "max_longitudinal_acceleration_mps2": float(np.nanmax(acceleration)),
        "max_abs_lateral_acceleration_mps2": float(
            np.nanmax(np.abs(series["lateral_acceleration_mps2"]))
        ),
        "max_abs_longitudinal_jerk_mps3": float(
            np.nanmax(np.abs(series["longitudinal_jerk_mps3"]))
        ),
        "max_abs_yaw_rate_radps": float(np.nanmax(np.abs(series["yaw_rate_radps"]))),
        "max_abs_yaw_acceleration_radps2": float(
            np.nanmax(np.abs(series["yaw_acceleration_radps2"]))
        ),
    }


def is_comfortable(trajectory: Trajectory) -> bool:
    """Every filtered comfort signal within nuPlan's bounds (the steps after a crash excluded)."""
    signals = comfort_signals(until_crash(trajectory))
    return all(
        signals[key] >= bound if key.startswith("min_") else signals[key] <= bound
        for key, bound in COMFORT_BOUNDS.items()
    )


def route_completion(trajectory: Trajectory) -> float | None:
    """Share of the route's road edges the ego reached; None when the scenario has no route."""
    if not trajectory.route_edges:
        return None
    visited = set(trajectory.edges)
    reached = [k for k, edge in enumerate(trajectory.route_edges) if edge in visited]
    return (max(reached) + 1) / len(trajectory.route_edges) if reached else 0.0


def driving_score(trajectory: Trajectory) -> float:
    """nuPlan-style score in [0, 1]: multipliers times the weighted mean of the soft metrics."""
    multiplier = (
        (not at_fault_collision(trajectory))
        * drivable_area_compliance(trajectory)
        * (wrong_way_distance_m(trajectory) <= MAX_WRONG_WAY_M)
        * (progress_ratio(trajectory) >= MIN_PROGRESS_RATIO)
    )
    ttc = min_time_to_collision_s(trajectory)
    parts = {
        "progress": progress_ratio(trajectory),
        "ttc": float(ttc is None or ttc >= TTC_BOUND_S),
        "speed_limit": speed_limit_compliance(trajectory),
        "comfort": float(is_comfortable(trajectory)),
    }
    mean = sum(SCORE_WEIGHTS[k] * v for k, v in parts.items()) / sum(SCORE_WEIGHTS.values())
    return float(multiplier * mean)


def until_crash(trajectory: Trajectory) -> Trajectory:
    """The steps before the first crash (all of them where there is none): comfort is judged on
    the driving, not on the impact."""
    crashed = np.nonzero(trajectory.crashed)[0]
    if len(crashed) == 0:
        return trajectory
    end = int(crashed[0])
    return trajectory.head(end)
