"""Neighbour search on a straight multi-lane road, for every vehicle of every environment at once.

highway-env's ``Road.neighbour_vehicles(vehicle, lane)`` scans all vehicles: a vehicle belongs to a
lane when its centre is within half a lane width plus 1 m of the lane's centreline, and the
neighbours are the nearest members ahead (at or beyond the vehicle's station) and behind. That scan
is O(N) per query and O(N^2) per simulation step. Here each environment's lane memberships are
sorted once per step by (lane, station), and every query is a binary search into that list:
O(N log N) per step, with the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

LANE_WIDTH_M = 4.0  # [m] highway-env's StraightLane.DEFAULT_WIDTH
ON_LANE_MARGIN_M = 1.0  # [m] the margin ``Road.neighbour_vehicles`` passes to ``on_lane``
# [m] separates lanes in the sort key: longer than highway-env's 10 km road, and small enough that a
# float32 key still resolves stations to 8 mm.
LANE_KEY_STRIDE_M = 2e4


@dataclass(frozen=True)
class LaneIndex:
    """Each environment's lane memberships, sorted by (lane, station).

    A vehicle near a lane boundary belongs to two lanes, so each environment has ``2 N`` slots;
    unused slots sort last.
    """

    keys: Tensor  # (B, 2N) sorted lane * stride + station
    vehicle: Tensor  # (B, 2N) which vehicle each sorted slot holds
    lane: Tensor  # (B, 2N) the lane of each slot, -1 for an unused one


def index_lanes(x_m: Tensor, y_m: Tensor, lanes: int) -> LaneIndex:
    """Sort every environment's lane memberships; ``x_m`` and ``y_m`` are ``(B, N)``."""
    count = x_m.shape[1]
    reach = LANE_WIDTH_M / 2 + ON_LANE_MARGIN_M
    nearest = torch.clamp(torch.round(y_m / LANE_WIDTH_M), 0, lanes - 1)
    # The other lane within reach, if any, is the neighbour on the side of the vehicle's offset.
    side = torch.where(y_m >= nearest * LANE_WIDTH_M, 1.0, -1.0).to(y_m.dtype)
    other = nearest + side
    first_ok = (y_m - nearest * LANE_WIDTH_M).abs() <= reach
    other_ok = ((y_m - other * LANE_WIDTH_M).abs() <= reach) & (other >= 0) & (other < lanes)
    lane = torch.cat([torch.where(first_ok, nearest, -1.0), torch.where(other_ok, other, -1.0)], 1)
    station = torch.cat([x_m, x_m], dim=1)
    unused_key = torch.finfo(x_m.dtype).max
    keys = torch.where(lane >= 0, lane * LANE_KEY_STRIDE_M + station, unused_key)
    keys, order = torch.sort(keys, dim=1)
    vehicles = torch.arange(count, device=x_m.device).repeat(2)
    return LaneIndex(
        keys=keys,
        vehicle=vehicles[order],
        lane=lane.gather(1, order).long(),
    )


def neighbours(index: LaneIndex, x_m: Tensor, query_lane: Tensor) -> tuple[Tensor, Tensor]:
    """The vehicles ahead of and behind each vehicle in ``query_lane``, or -1 where there is none.

    :param index: the lane memberships from :func:`index_lanes`.
    :param x_m: ``(B, N)`` the station of every vehicle.
    :param query_lane: ``(B, N)`` or ``(B, N, Q)`` lanes to search, one query per entry.
    :return: the front and rear vehicle of each query, shaped like ``query_lane``.
    """
    shape = query_lane.shape
    batch, count = x_m.shape
    flat_lane = query_lane.reshape(batch, -1)
    asking = torch.arange(count, device=x_m.device).repeat_interleave(flat_lane.shape[1] // count)
    asking = asking.expand(batch, -1)
    station = x_m.repeat_interleave(flat_lane.shape[1] // count, dim=1)
    key = flat_lane.to(x_m.dtype) * LANE_KEY_STRIDE_M + station
    slots = index.keys.shape[1]
    position = torch.searchsorted(index.keys, key.contiguous())
    # The asking vehicle sits in its own lane's list at exactly its key: step past it.
    here = position.clamp(max=slots - 1)
    is_self = (index.vehicle.gather(1, here) == asking) & (position < slots)
    front_position = (position + is_self.long()).clamp(max=slots - 1)
    front_ok = (position + is_self.long() < slots) & (
        index.lane.gather(1, front_position) == flat_lane
    )
    front = torch.where(front_ok, index.vehicle.gather(1, front_position), -1)
    rear_position = (position - 1).clamp(min=0)
    rear_ok = (position > 0) & (index.lane.gather(1, rear_position) == flat_lane)
    rear = torch.where(rear_ok, index.vehicle.gather(1, rear_position), -1)
    return front.reshape(shape), rear.reshape(shape)
