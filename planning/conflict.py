"""Where crossing traffic meets the ego's path, and how fast the road ahead lets it drive: the
junction and curve rules, written once in torch for ``B`` scenes.

The rule planner and the policy executor call them with a batch of one
(:func:`planning.rules.first_conflict_gap_m`, :func:`planning.rules.max_curvature`); the batched
engine's planning environment (:mod:`planning.rl.batched_roads`) with every environment at once.

The conflict test predicts each crossing vehicle at constant velocity on a grid of times
(``CONFLICT_STEP_S``). A vehicle is its body's axis, a segment of its length along its heading, not
its centre: a car standing in the junction, or nosing towards the ego's path, reaches half its
length (2.5 m in highway-env) closer to it than its centre does. It moves along that axis, so its
distance to one point of the ego's path is within the conflict distance during one interval of
time, whose ends are linear in the point's coordinates; the grid times inside it are read from the
ends rather than tested one by one: ``(B, vehicles, path points)`` numbers instead of
``(B, vehicles, times, path points)``, which is what lets the engine run the test at every
simulation step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from perception.base import SceneState
from sims.arrays import Array, column, max_last, where
from sims.batched.centreline import Centrelines
from sims.frenet import to_frenet
from sims.groundtruth import Centreline, EgoState, LaneGeometry, VehicleState

CONFLICT_STEP_S = 0.1  # [s] time step of the conflict prediction
PATH_STEP_M = 0.5  # [m] spacing of the points of the ego's path that the conflict test looks at
CURVATURE_BASELINE_M = 10.0  # [m] curvature is the heading change over this much arc


@dataclass(frozen=True)
class Movers:
    """Vehicles as the conflict test sees them: every field ``(B,)`` for the ego, ``(B, N)`` for
    the others."""

    x_m: Tensor
    y_m: Tensor
    speed_mps: Tensor
    heading_rad: Tensor
    length_m: Tensor


@dataclass(frozen=True)
class ConflictRules:
    """The conflict test's settings (:class:`planning.rules.RulesConfig` carries them)."""

    crossing_angle_rad: float  # vehicles this far off the ego's heading are crossing traffic
    horizon_s: float  # crossing traffic is predicted this far ahead
    distance_m: float  # a crossing centre this close to the ego's path is in it
    time_buffer_s: float  # least time between a crossing vehicle and the ego in the same stretch
    go_acceleration_mps2: float  # how the ego is predicted to speed up when it goes


def interpolate(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """``numpy.interp`` row by row: ``x`` ``(B, M)`` on the increasing ``xp`` ``(B, K)`` with
    values ``fp`` ``(B, K)``; constant beyond either end."""
    last = xp.shape[1] - 1
    right = torch.searchsorted(xp.contiguous(), x.contiguous(), right=True).clamp(1, last)
    left = right - 1
    x0, x1 = xp.gather(1, left), xp.gather(1, right)
    f0, f1 = fp.gather(1, left), fp.gather(1, right)
    inside = f0 + (x - x0) * (f1 - f0) / (x1 - x0).clamp(min=1e-12)
    return torch.where(x <= xp[:, :1], fp[:, :1], torch.where(x >= xp[:, -1:], fp[:, -1:], inside))


def crossing_traffic(heading_rad: Array, ego_heading_rad: Array, rules: ConflictRules) -> Array:
    """Which vehicles ``(B, N)`` head across the ego's way ``(B,)``: this far off its heading.
    Numpy arrays or tensors (``%`` is the floored modulo in both)."""
    relative = (heading_rad - ego_heading_rad[:, None] + math.pi) % (2 * math.pi) - math.pi
    return abs(relative) >= rules.crossing_angle_rad


def first_conflict_gaps_m(
    centreline: Centrelines,
    ego_station_m: Tensor,
    ego: Movers,
    speed_limit_mps: Tensor,
    others: Movers,
    present: Tensor,
    rules: ConflictRules,
) -> Tensor:
    """Bumper gap [m] along each ego's lane to the nearest stretch of it that crossing traffic takes
    while the ego would be there; ``inf`` where there is none.

    Vehicles heading across the ego's lane are predicted at constant velocity over the horizon, each
    as its body's axis; the stretch of the ego's path that one comes within the conflict distance
    of is its conflict zone. The ego is predicted to go: to speed up at the go acceleration to its
    lane's limit. A zone conflicts when, at one of its points, the ego's time there (from its
    centre reaching the point to its tail leaving it) comes within the time buffer of the
    vehicle's. Comparing times, not positions at the same instant, sees the vehicle that will have
    crossed a moment before the ego arrives. A zone the ego's centre is already in is ignored: it is
    committed, and stopping there would block the crossing vehicle's way.

    :param centreline: the ego's lane ahead, ``(B, K)``.
    :param ego_station_m: ``(B,)`` the ego's station on it [m].
    :param ego: the egos, ``(B,)``.
    :param speed_limit_mps: ``(B,)`` the speed limit of each ego's lane [m/s].
    :param others: the other vehicles ``(B, N)``; ``present`` marks the real ones.
    :return: ``(B,)`` gaps [m].
    """
    dtype, device = ego.x_m.dtype, ego.x_m.device
    crossing = present & crossing_traffic(others.heading_rad, ego.heading_rad, rules)
    times = torch.arange(0.0, rules.horizon_s + 1e-9, CONFLICT_STEP_S, dtype=dtype, device=device)
    steps = times.shape[0]
    # The ego going: its speed and the distance it covers over time.
    top_speed = torch.maximum(speed_limit_mps, ego.speed_mps)[:, None]
    speeds = torch.minimum(ego.speed_mps[:, None] + rules.go_acceleration_mps2 * times, top_speed)
    covered = torch.cumsum((speeds[:, 1:] + speeds[:, :-1]) / 2 * CONFLICT_STEP_S, dim=1)
    covered = torch.cat([torch.zeros_like(covered[:, :1]), covered], dim=1)
    points = torch.ceil((covered[:, -1] + PATH_STEP_M) / PATH_STEP_M).long().clamp(min=1)  # (B,)
    ahead = torch.arange(int(points.max()), dtype=dtype, device=device) * PATH_STEP_M
    ahead = ahead.expand(ego.x_m.shape[0], -1)
    valid = torch.arange(ahead.shape[1], device=device) < points[:, None]
    stations = ego_station_m[:, None] + ahead
    path_x = interpolate(stations, centreline.station_m, centreline.x_m)
    path_y = interpolate(stations, centreline.station_m, centreline.y_m)
    ego_time = interpolate(ahead, covered, times.expand_as(covered))  # (B, S) [s]
    tail = torch.round(ego.length_m / PATH_STEP_M).long()

    # The path points as each crossing vehicle sees them: ``along`` ahead of its centre, ``across``
    # to its side.
    cos, sin = torch.cos(others.heading_rad)[:, :, None], torch.sin(others.heading_rad)[:, :, None]
    dx = path_x[:, None, :] - others.x_m[:, :, None]
    dy = path_y[:, None, :] - others.y_m[:, :, None]
    along, across = dx * cos + dy * sin, dy * cos - dx * sin
    first_time, last_time = _straight_on(along, across, others, rules)
    low = (torch.floor(first_time / CONFLICT_STEP_S) + 1).clamp(min=0)
    high = (torch.ceil(last_time / CONFLICT_STEP_S) - 1).clamp(max=steps - 1)
    in_path = (low <= high) & valid[:, None, :] & crossing[:, :, None]  # (B, N, S)

    # Point by point: the ego is at a point from its centre reaching it to its tail leaving it (its
    # centre one length further); it meets the vehicle there if that comes within the buffer of
    # the vehicle's time there. A vehicle's zone conflicts if they meet at any of its points; the
    # ego then stops before the whole zone, not only before the points they meet at.
    index = torch.arange(ahead.shape[1], device=device)
    ego_in = ego_time
    ego_out = ego_time.gather(1, torch.minimum(index + tail[:, None], points[:, None] - 1))
    their_in = times[torch.where(in_path, low, 0).long()]
    their_out = times[torch.where(in_path, high, 0).long()]
    buffer_s = rules.time_buffer_s
    meet = (
        in_path
        & (ego_in[:, None, :] - buffer_s < their_out)
        & (their_in < ego_out[:, None, :] + buffer_s)
    )
    zone = in_path.any(dim=2)
    first = torch.where(in_path, index, ahead.shape[1]).amin(dim=2).clamp(max=ahead.shape[1] - 1)
    conflicts = zone & (first > 0) & meet.any(dim=2)
    gaps = ahead.gather(1, first) - ego.length_m[:, None]
    return torch.where(conflicts, gaps, torch.inf).amin(dim=1)


def yield_gaps_m(
    conflict_gap_m: Tensor,
    lane_end_m: Tensor,
    ego_length_m: Tensor,
    speed_mps: Tensor,
    deceleration_mps2: float,
) -> Tensor:
    """Bumper gap [m] ahead of each ego ``(B,)`` to where it stops to yield to the conflict
    :func:`first_conflict_gaps_m` found, ``inf`` where it goes.

    It stops at its lane's end, a junction's stop line, when the conflict lies beyond it and the
    ego's nose has not passed it: waiting there rather than at the edge of the conflict zone
    keeps it out of the junction while it waits, where a car turning across the corner would
    catch it (highway-env's left turn from the right passes 1.5 m from the approach lane's edge)
    and where a zone found a moment later would find it committed. Else it stops before the zone,
    if it can before its centre enters it; else it is committed and clears the zone rather than
    stop in the crossing vehicle's way. Stopping at most ``deceleration_mps2`` either way.

    :param conflict_gap_m: ``(B,)`` the bumper gap to the first conflict, ``inf`` where none [m].
    :param lane_end_m: ``(B,)`` the ego's centre to its lane's end along the lane [m] (``inf``
        where the lane does not end in view).
    :param ego_length_m: ``(B,)`` the egos' lengths [m].
    :param speed_mps: ``(B,)`` the egos' speeds [m/s].
    :param deceleration_mps2: the hardest braking a stop may take [m/s2].
    :return: ``(B,)`` bumper gaps [m] as to a standing car, or ``inf``.
    """
    nose_to_line = lane_end_m - ego_length_m / 2
    zone_m = conflict_gap_m + ego_length_m  # the ego's centre to the zone's first point
    braking = 2 * deceleration_mps2
    at_line = (
        torch.isfinite(conflict_gap_m)
        & (zone_m > lane_end_m)
        & (nose_to_line > 0)
        & (speed_mps**2 <= braking * nose_to_line)
    )
    at_zone = speed_mps**2 <= braking * zone_m
    return torch.where(at_line, nose_to_line, torch.where(at_zone, conflict_gap_m, torch.inf))


def _straight_on(
    along: Tensor, across: Tensor, others: Movers, rules: ConflictRules
) -> tuple[Tensor, Tensor]:
    """When each vehicle's axis, going straight on at constant speed, is within the conflict
    distance of each path point: the times ``(B, N, S)`` [s] that bound it, ``(inf, -inf)`` where
    it never is. The point is ``along`` ahead of the vehicle's centre and ``across`` to its side;
    the axis reaches it while |along - speed t| < length/2 + sqrt(d^2 - across^2)."""
    side = rules.distance_m**2 - across * across
    reach = others.length_m[:, :, None] / 2 + torch.sqrt(side.clamp(min=0))
    speed = others.speed_mps[:, :, None]
    moving = speed != 0
    safe_speed = torch.where(moving, speed, 1.0)
    ends = ((along - reach) / safe_speed, (along + reach) / safe_speed)
    first = torch.where(moving, torch.minimum(*ends), -torch.inf)
    last = torch.where(moving, torch.maximum(*ends), torch.inf)
    reaches = (side > 0) & (moving | (along.abs() < reach))
    return torch.where(reaches, first, torch.inf), torch.where(reaches, last, -torch.inf)


def max_curvatures(
    heading_rad: Array,
    station_m: Array,
    from_station_m: Array | float,
    to_station_m: Array | float,
    *,
    baseline_m: float = CURVATURE_BASELINE_M,
) -> Array:
    """Largest |curvature| [1/m] of each centreline ``(B, K)`` (headings unwrapped, evenly spaced
    stations) between two stations, 0 where none is sampled: numpy arrays for one perceived lane,
    tensors for the engine's batch.

    Curvature is the heading change over ``baseline_m`` of arc: highway-env's lane graphs are not
    always continuous where one lane hands over to the next (its roundabout has gaps of several
    metres), and a short baseline would read those seams as hairpins.
    """
    spacing = float(station_m[0, 1] - station_m[0, 0]) if station_m.shape[1] > 1 else 1.0
    step = max(1, int(round(baseline_m / max(spacing, 1e-6))))
    if station_m.shape[1] <= step:
        return station_m[:, 0] * 0.0
    curvature = abs(heading_rad[:, step:] - heading_rad[:, :-step]) / (
        station_m[:, step:] - station_m[:, :-step]
    )
    middle = (station_m[:, step:] + station_m[:, :-step]) / 2
    window = (middle >= column(from_station_m, middle)) & (middle <= column(to_station_m, middle))
    return max_last(where(window, curvature, 0.0))


# -- one perceived scene: the rule planner's and the policy executor's calls ---------------------


def max_curvature(
    centreline: Centreline, from_station_m: float, to_station_m: float, *, baseline_m: float = 10.0
) -> float:
    """Largest |curvature| [1/m] of a centreline between two stations
    (:func:`max_curvatures` with a batch of one, in numpy)."""
    curvature = max_curvatures(
        centreline.heading_rad[None],
        centreline.station_m[None],
        from_station_m,
        to_station_m,
        baseline_m=baseline_m,
    )
    return float(curvature[0])


def first_conflict_gap_m(
    scene: SceneState, lane: LaneGeometry, rules: ConflictRules
) -> float | None:
    """Bumper gap [m] along ``lane`` to the nearest stretch of it that crossing traffic takes while
    the ego would be there; None when there is none
    (:func:`planning.conflict.first_conflict_gaps_m` with a batch of one).

    Vehicles heading across our lane (intersections, roundabout rings, merges) are predicted at
    constant velocity over the rules' horizon; the ego is predicted to go, at
    the go acceleration up to its lane's limit.
    """
    ego, vehicles = scene.ego, scene.vehicles
    headings = np.array([[v.heading_rad for v in vehicles]], dtype=np.float64).reshape(1, -1)
    ego_heading = np.array([ego.heading_rad], dtype=np.float64)
    if not bool(crossing_traffic(headings, ego_heading, rules).any()):
        return None  # the common case, and the cheap one: no crossing traffic at all
    line = lane.centreline
    ego_station = float(to_frenet(line, np.array(ego.x_m), np.array(ego.y_m))[0])

    def row(*values: float) -> torch.Tensor:
        return torch.tensor([values], dtype=torch.float64)

    def movers(items: Sequence[VehicleState | EgoState], shape: tuple[int, ...]) -> Movers:
        return Movers(
            *(
                torch.tensor([getattr(v, name) for v in items], dtype=torch.float64).reshape(shape)
                for name in ("x_m", "y_m", "speed_mps", "heading_rad", "length_m")
            )
        )

    gap = first_conflict_gaps_m(
        _centrelines(line),
        row(ego_station)[0],
        movers([ego], (1,)),
        row(lane.speed_limit_mps)[0],
        movers(vehicles, (1, len(vehicles))),
        torch.ones(1, len(vehicles), dtype=torch.bool),
        rules,
    )
    return float(gap[0]) if math.isfinite(float(gap[0])) else None


def yield_gap_m(
    conflict_gap_m: float,
    lane_end_m: float,
    ego_length_m: float,
    speed_mps: float,
    deceleration_mps2: float,
) -> float | None:
    """Bumper gap [m] to where the ego stops to yield, None where it goes
    (:func:`yield_gaps_m` with a batch of one)."""

    def row(value: float) -> Tensor:
        return torch.tensor([value], dtype=torch.float64)

    gap = yield_gaps_m(
        row(conflict_gap_m), row(lane_end_m), row(ego_length_m), row(speed_mps), deceleration_mps2
    )
    return float(gap[0]) if math.isfinite(float(gap[0])) else None


def _centrelines(line: Centreline) -> Centrelines:
    """One perceived centreline as a batch of one."""
    return Centrelines(
        *(
            torch.tensor(getattr(line, name), dtype=torch.float64)[None]
            for name in ("x_m", "y_m", "heading_rad", "station_m")
        )
    )
