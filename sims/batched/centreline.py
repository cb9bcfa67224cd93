"""The ego lane's centreline as the stack's ground truth samples it, for ``B`` scenes at once.

:func:`centrelines` is :func:`sims.groundtruth.lane_geometry` on the engine's tensors: the lane
sampled every :data:`~sims.groundtruth.CENTRELINE_STEP_M` from :data:`~sims.groundtruth.LOOKBEHIND_M`
behind the vehicle to :data:`~sims.groundtruth.LOOKAHEAD_M` ahead, continuing past the lane's end
into the lane that follows on the vehicle's route (highway-env's ``RoadNetwork.next_lane``, which
drops the route's steps as it goes), across a seam on its straight connector. Each lane end is
handled for the whole batch at once, so the work grows with the number of lane ends within reach,
not with the number of samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.physics import wrap_to_pi
from sims.batched.roads import LaneView, RoadTensors
from sims.groundtruth import (
    CENTRELINE_STEP_M,
    LOOKAHEAD_M,
    LOOKBEHIND_M,
    SEAM_MAX_M,
    SEAM_MIN_M,
)

SAMPLES = int((LOOKAHEAD_M + LOOKBEHIND_M) / CENTRELINE_STEP_M) + 1
MAX_LANE_ENDS = 12  # lane ends crossed within the samples' reach (roundabout-v0's arcs: 7)


@dataclass(frozen=True)
class Centrelines:
    """``B`` lanes' centrelines, sampled at increasing, evenly spaced stations [m] (station 0 at
    the vehicle); every field ``(B, K)``, headings unwrapped (a ring road's keep growing)."""

    x_m: Tensor
    y_m: Tensor
    heading_rad: Tensor
    station_m: Tensor


def centrelines(
    road: RoadTensors,
    lane: Tensor,
    x_m: Tensor,
    y_m: Tensor,
    route_road: Tensor,
    route_lane: Tensor,
) -> Centrelines:
    """:func:`sims.groundtruth.lane_geometry`'s centreline of ``lane`` around each point.

    :param lane: ``(B,)`` the lanes to sample (the vehicles' closest lanes).
    :param x_m: ``(B,)`` the vehicles' positions [m]; ``y_m`` likewise.
    :param route_road: ``(B, R)`` the vehicles' routes as road numbers, :data:`roads.NONE` after
        their end; ``route_lane`` the lane ids they name (:data:`roads.NONE`: none).
    :return: the centrelines, :data:`SAMPLES` points each.
    """
    batch, device = lane.shape[0], lane.device
    steps = route_road.shape[1]
    # The route from the step on the lane's road onwards (sims.groundtruth.route_from): its index,
    # or `steps` where the route does not pass that road.
    on_road = route_road == road.road[lane][:, None]
    position = torch.arange(steps, device=device)
    head = torch.where(on_road, position, steps).amin(dim=1)
    start, _ = roads.local_coordinates(LaneView.of(road, lane), x_m, y_m)
    offsets = torch.arange(SAMPLES, dtype=x_m.dtype, device=device) * CENTRELINE_STEP_M
    # Sample k lies on lanes[:, k] at longitudinal shift[:, k] + offsets[k].
    lanes = lane[:, None].expand(batch, SAMPLES).clone()
    shift = (start - LOOKBEHIND_M)[:, None].expand(batch, SAMPLES).clone()
    # Samples on a seam's connector before their lane (sims.groundtruth.seam_m): its direction.
    connector = torch.zeros(batch, SAMPLES, dtype=torch.bool, device=device)
    direction_x = torch.zeros_like(shift)
    direction_y = torch.zeros_like(shift)
    current, current_shift = lane.clone(), start - LOOKBEHIND_M
    begins = torch.zeros(batch, dtype=torch.long, device=device)  # first sample on `current`
    finished = torch.zeros(batch, dtype=torch.bool, device=device)  # no lane follows `current`
    index = torch.arange(SAMPLES, device=device)
    for _ in range(MAX_LANE_ENDS):
        along = current_shift[:, None] + offsets
        beyond = (along > road.length_m[current][:, None]) & (index >= begins[:, None])
        ends = beyond.any(dim=1) & ~finished
        if not bool(ends.any()):
            break
        first = torch.where(beyond, index, SAMPLES).amin(dim=1)
        following, next_head = _next_lane(road, current, head, route_road, route_lane)
        moves = ends & (following != current)
        finished |= ends & ~moves
        end_x, end_y = roads.position(
            LaneView.of(road, current), road.length_m[current], torch.zeros_like(x_m)
        )
        following_view = LaneView.of(road, following)
        entry, _ = roads.local_coordinates(following_view, end_x, end_y)
        zero = torch.zeros_like(entry)
        begin_x, begin_y = roads.position(following_view, zero, zero)
        gap_m = torch.hypot(begin_x - end_x, begin_y - end_y)
        seam = (entry < -SEAM_MIN_M) & (gap_m < SEAM_MAX_M)
        new_shift = torch.where(seam, -gap_m, entry) - road.length_m[current] + current_shift
        later = moves[:, None] & (index >= first[:, None])
        lanes = torch.where(later, following[:, None], lanes)
        shift = torch.where(later, new_shift[:, None], shift)
        connector = torch.where(later, seam[:, None], connector)
        gap_m = gap_m.clamp(min=1e-9)[:, None]
        direction_x = torch.where(later, (begin_x - end_x)[:, None] / gap_m, direction_x)
        direction_y = torch.where(later, (begin_y - end_y)[:, None] / gap_m, direction_y)
        head = torch.where(moves, next_head, head)
        current = torch.where(moves, following, current)
        current_shift = torch.where(moves, new_shift, current_shift)
        begins = torch.where(moves, first, begins)
    view = LaneView.of(road, lanes)
    along = shift + offsets
    zero = torch.zeros_like(along)
    x, y = roads.position(view, along, zero)
    heading = roads.heading_at(view, along)
    bridged = connector & (along < 0)
    if bool(bridged.any()):
        begin_x, begin_y = roads.position(view, zero, zero)
        x = torch.where(bridged, begin_x + along * direction_x, x)
        y = torch.where(bridged, begin_y + along * direction_y, y)
        heading = torch.where(bridged, torch.atan2(direction_y, direction_x), heading)
    heading = unwrapped(heading)
    station = (offsets - LOOKBEHIND_M).expand(batch, SAMPLES)
    return Centrelines(x_m=x, y_m=y, heading_rad=heading, station_m=station)


def followed_lane(
    road: RoadTensors,
    lane: Tensor,
    x_m: Tensor,
    y_m: Tensor,
    route_road: Tensor,
    route_lane: Tensor,
) -> Tensor:
    """:func:`sims.groundtruth.followed_lane`: each vehicle's closest lane ``lane`` ``(B,)``, unless
    that lane leaves the vehicle's route at a fork, where it is the lane of the route's road from
    the same node nearest to the point (``AbstractLane.distance``; the first on a tie).

    :param route_road: ``(B, R)`` the routes as road numbers, :data:`roads.NONE` after their end;
        ``route_lane`` the lane ids they name (:data:`roads.NONE`: any).
    :return: ``(B,)`` the lanes to follow.
    """
    steps = route_road.shape[1]
    on_route = (route_road == road.road[lane][:, None]).any(dim=1)
    origin = road.road_origin[road.road[lane]]
    forks = (route_road >= 0) & (road.road_origin[route_road.clamp(min=0)] == origin[:, None])
    position = torch.arange(steps, device=lane.device)
    step = torch.where(forks, position, steps).amin(dim=1).clamp(max=steps - 1)[:, None]
    fork_road = route_road.gather(1, step)[:, 0].clamp(min=0)
    fork_lane = route_lane.gather(1, step)[:, 0]
    candidates = road.lane_of[fork_road]  # (B, most lanes)
    named = (fork_lane[:, None] < 0) | (road.lane_id[candidates.clamp(min=0)] == fork_lane[:, None])
    exists = (candidates >= 0) & named
    view = LaneView.of(road, candidates.clamp(min=0))
    along, across = roads.local_coordinates(view, x_m[:, None], y_m[:, None])
    key = torch.where(exists, roads.distance_m(view, along, across), torch.inf)
    chosen = candidates.gather(1, torch.argmin(key, dim=1, keepdim=True))[:, 0]
    leaves = ~on_route & forks.any(dim=1) & exists.any(dim=1)
    return torch.where(leaves, chosen, lane)


def lane_end_m(road: RoadTensors, lane: Tensor, x_m: Tensor, y_m: Tensor) -> Tensor:
    """How far along each lane ``(B,)`` its end lies ahead of a point on it [m], as
    :attr:`sims.groundtruth.LaneGeometry.end_station_m` gives it for the stack: where the lane hands
    over to the next of the route, a junction's stop line."""
    longitudinal, _ = roads.local_coordinates(LaneView.of(road, lane), x_m, y_m)
    return road.length_m[lane] - longitudinal


def _next_lane(
    road: RoadTensors, lane: Tensor, head: Tensor, route_road: Tensor, route_lane: Tensor
) -> tuple[Tensor, Tensor]:
    """``RoadNetwork.next_lane(lane, route, position=the lane's end)`` and the route's new head:
    the step on ``lane``'s road is dropped; the next one is followed where it starts at the end of
    ``lane``'s road."""
    steps = route_road.shape[1]

    def step_at(index: Tensor) -> tuple[Tensor, Tensor]:
        inside = index < steps
        column = index.clamp(max=steps - 1)[:, None]
        step_road = torch.where(inside, route_road.gather(1, column)[:, 0], roads.NONE)
        step_lane = torch.where(inside, route_lane.gather(1, column)[:, 0], roads.NONE)
        return step_road, step_lane

    first_road, _ = step_at(head)
    head = torch.where((first_road >= 0) & (first_road == road.road[lane]), head + 1, head)
    next_road, next_lane_id = step_at(head)
    origin = road.road_origin[next_road.clamp(min=0)]
    follows = (next_road >= 0) & (origin == road.road_destination[road.road[lane]])
    end_x, end_y = roads.position(
        LaneView.of(road, lane), road.length_m[lane], torch.zeros_like(road.length_m[lane])
    )
    following = roads.next_lane(
        road,
        lane,
        end_x,
        end_y,
        next_road=torch.where(follows, next_road, roads.NONE),
        next_lane_id=torch.where(follows, next_lane_id, roads.NONE),
    )
    return following, head


def unwrapped(heading_rad: Tensor) -> Tensor:
    """``numpy.unwrap`` along the last axis: no jump of more than pi between neighbours."""
    steps = torch.diff(heading_rad, dim=-1)
    wrapped = wrap_to_pi(steps)
    wrapped = torch.where((wrapped == -math.pi) & (steps > 0), math.pi, wrapped)  # numpy's rule
    correction = torch.where(steps.abs() < math.pi, 0.0, wrapped - steps)
    return torch.cat(
        [heading_rad[..., :1], heading_rad[..., 1:] + torch.cumsum(correction, dim=-1)], dim=-1
    )
