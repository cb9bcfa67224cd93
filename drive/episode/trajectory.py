"""One episode's recorded trajectory, and the signals derived from it (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


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
    lane_index: np.ndarray | None = None  # the ego's lane index on its edge, per step
    decisions: tuple[str, ...] = ()  # the plan's decision label, per step
    route_edges: tuple[str, ...] = ()
    crash_other_ahead: bool | None = None
    crash_while_changing: bool | None = None
    controller_fallbacks: int = 0
    planner_overrides: int = 0

    def head(self, steps: int) -> Trajectory:
        """The first ``steps`` steps."""
        cut = {
            f.name: getattr(self, f.name)[:steps]
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }
        return replace(self, edges=self.edges[:steps], decisions=self.decisions[:steps], **cut)


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
