"""Recording an episode: what every step's ground truth says about the ego, for the metrics.

The recorder reads the simulator's ground truth, never the stack's own perception, so that a
perception error cannot hide a bad outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from drive.episode.trajectory import Trajectory
from perception.base import SceneState
from planning.base import Plan
from planning.neighbours import neighbours_in
from sims.env import SimStep
from sims.groundtruth import GroundTruth, LaneGeometry

TRAFFIC_RADIUS_M = 100.0  # [m] vehicles this close make up the "surrounding traffic"
MOVING_MPS = 0.5  # [m/s] slower objects (obstacles, stalled cars) are not traffic to keep up with


@dataclass(frozen=True)
class StepRow:
    """What the metrics need of one simulation step."""

    x_m: float
    y_m: float
    heading_rad: float
    speed_mps: float
    reward: float
    crashed: bool
    box_on_road: bool
    speed_limit_mps: float
    lead_gap_m: float  # [m] NaN without a leader
    lead_speed_mps: float
    traffic_speed_mps: float
    heading_error_rad: float


FLOAT_COLUMNS = tuple(
    field.name for field in fields(StepRow) if field.name not in ("crashed", "box_on_road")
)


class Recorder:
    """Collects one row per simulation step and builds the :class:`Trajectory`."""

    def __init__(self, *, dt_s: float, route_edges: tuple[str, ...] = ()) -> None:
        self.dt_s = dt_s
        self.route_edges = route_edges
        self.rows: list[StepRow] = []
        self.edges: list[str] = []
        self.lane_indices: list[int] = []
        self.decisions: list[str] = []
        self.return_so_far = 0.0  # time-integrated reward, as in the metrics
        self.crash_other_ahead: bool | None = None
        self.crash_while_changing: bool | None = None

    def record(self, step: SimStep, plan: Plan) -> None:
        """Add the state after ``step``, taken under ``plan``."""
        truth = step.frame.truth
        ego = truth.ego
        lane = next(g for g in truth.lanes if g.lane == ego.lane)  # always reported
        lead_gap, lead_speed = _lead(truth, lane)
        self.rows.append(
            StepRow(
                x_m=ego.x_m,
                y_m=ego.y_m,
                heading_rad=ego.heading_rad,
                speed_mps=ego.speed_mps,
                reward=step.reward,
                crashed=ego.crashed,
                box_on_road=ego.box_on_road,
                speed_limit_mps=lane.speed_limit_mps,
                lead_gap_m=lead_gap,
                lead_speed_mps=lead_speed,
                traffic_speed_mps=_traffic_speed(truth),
                heading_error_rad=_heading_error(truth, lane),
            )
        )
        self.edges.append(f"{ego.lane.start}>{ego.lane.end}")
        self.lane_indices.append(ego.lane.index)
        self.decisions.append(plan.decision)
        self.return_so_far += step.reward * self.dt_s
        if ego.crashed and self.crash_other_ahead is None:
            self.crash_other_ahead = _nearest_is_ahead(truth)
            self.crash_while_changing = plan.decision.startswith("change")

    def banner(self, step: SimStep, plan: Plan) -> str:
        """One line for the video overlay."""
        truth = step.frame.truth
        return (
            f"t {truth.time_s:5.1f} s | {truth.ego.speed_mps * 3.6:5.1f} km/h | "
            f"{plan.decision.replace('_', ' ')} -> lane {plan.target_lane.index} "
            f"@ {plan.target_speed_mps * 3.6:3.0f} km/h | return {self.return_so_far:5.2f}"
        )

    def trajectory(self, *, controller_fallbacks: int, planner_overrides: int = 0) -> Trajectory:
        def column(name: str) -> np.ndarray:
            return np.array([getattr(row, name) for row in self.rows], dtype=np.float64)

        return Trajectory(
            dt_s=self.dt_s,
            **{name: column(name) for name in FLOAT_COLUMNS},
            crashed=column("crashed").astype(bool),
            box_on_road=column("box_on_road").astype(bool),
            changing_lane=np.array([d.startswith("change") for d in self.decisions], dtype=bool),
            lane_change_started=lane_change_starts(self.decisions),
            edges=tuple(self.edges),
            lane_index=np.array(self.lane_indices, dtype=np.int64),
            decisions=tuple(self.decisions),
            route_edges=self.route_edges,
            crash_other_ahead=self.crash_other_ahead,
            crash_while_changing=self.crash_while_changing,
            controller_fallbacks=controller_fallbacks,
            planner_overrides=planner_overrides,
        )


def lane_change_starts(decisions: Sequence[str]) -> np.ndarray:
    """Whether a lane change starts at each step of a run of plan decisions: where the plan begins
    changing lane after a step that did not. A change the rule planner turns back (from
    ``change_left`` to ``change_right`` at once, :mod:`planning.rules`) is the same manoeuvre, not
    a second change.

    :param decisions: the plan's decision label at each step (or at each run of equal labels).
    :return: a bool array, one entry per decision.
    """
    changing = np.array([decision.startswith("change") for decision in decisions], dtype=bool)
    before = np.concatenate([[False], changing[:-1]])
    return changing & ~before


def _truth_scene(truth: GroundTruth) -> SceneState:
    return SceneState(
        time_s=truth.time_s, ego=truth.ego, vehicles=truth.vehicles, lanes=truth.lanes
    )


def _lead(truth: GroundTruth, lane: LaneGeometry) -> tuple[float, float]:
    """Bumper gap [m] and speed [m/s] of the vehicle ahead in the ego's lane (NaN if none)."""
    near = neighbours_in(lane, _truth_scene(truth), preview_s=0.0, turned_boxes=False)
    if near.lead_gap_m is None or near.lead_speed_mps is None:
        return math.nan, math.nan
    return near.lead_gap_m, near.lead_speed_mps


def _traffic_speed(truth: GroundTruth) -> float:
    """Mean speed of the moving vehicles within :data:`TRAFFIC_RADIUS_M` (NaN if none)."""
    ego = truth.ego
    speeds = [
        v.speed_mps
        for v in truth.vehicles
        if v.speed_mps > MOVING_MPS
        and math.hypot(v.x_m - ego.x_m, v.y_m - ego.y_m) <= TRAFFIC_RADIUS_M
    ]
    return float(np.mean(speeds)) if speeds else math.nan


def _heading_error(truth: GroundTruth, lane: LaneGeometry) -> float:
    """Ego heading minus its lane's heading at the ego [rad], wrapped to [-pi, pi]."""
    line = lane.centreline
    lane_heading = float(np.interp(0.0, line.station_m, line.heading_rad))
    return math.remainder(truth.ego.heading_rad - lane_heading, 2 * math.pi)


def _nearest_is_ahead(truth: GroundTruth) -> bool:
    """Whether the object nearest the ego (the one it hit) is ahead of the ego's centre."""
    ego = truth.ego
    if not truth.vehicles:
        return True
    nearest = min(truth.vehicles, key=lambda v: math.hypot(v.x_m - ego.x_m, v.y_m - ego.y_m))
    along = (nearest.x_m - ego.x_m) * math.cos(ego.heading_rad) + (
        nearest.y_m - ego.y_m
    ) * math.sin(ego.heading_rad)
    return along > 0.0
