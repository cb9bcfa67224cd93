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

    A vehicle near a lane boundary belongs to two lanes, so each environment has ``2 N`` slots:
    entry ``i`` is vehicle ``i``'s nearest lane, entry ``N + i`` the other lane within reach.
    Unused entries sort last.
    """

    keys: Tensor  # (B, 2N) sorted lane * stride + station
    vehicle: Tensor  # (B, 2N) which vehicle each sorted slot holds
    lane: Tensor  # (B, 2N) the lane of each slot, -2 for an unused one
    entry_lane: Tensor  # (B, 2N) the lane of each entry, in entry order
    entry_slot: Tensor  # (B, 2N) where each entry sits in the sorted order


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
    lane = torch.cat([torch.where(first_ok, nearest, -2.0), torch.where(other_ok, other, -2.0)], 1)
    station = torch.cat([x_m, x_m], dim=1)
    unused_key = torch.finfo(x_m.dtype).max
    keys = torch.where(lane >= 0, lane * LANE_KEY_STRIDE_M + station, unused_key)
    keys, order = torch.sort(keys, dim=1)
    entry_slot = torch.empty_like(order)
    entry_slot.scatter_(1, order, torch.arange(2 * count, device=x_m.device).expand_as(order))
    entry_lane = lane.long()
    return LaneIndex(
        keys=keys,
        vehicle=order % count,
        lane=entry_lane.gather(1, order),
        entry_lane=entry_lane,
        entry_slot=entry_slot,
    )


def own_lane_neighbours(index: LaneIndex, lane: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Every vehicle's front and rear vehicle in ``lane`` (``(B, N)``), read off its own slot.

    :return: front, rear (-1 where none), and whether the vehicle belongs to ``lane`` at all; where
        it does not (it is off the road), the first two are meaningless and :func:`search` must answer.
    """
    count = lane.shape[1]
    primary = index.entry_lane[:, :count] == lane
    secondary = index.entry_lane[:, count:] == lane
    slot = torch.where(primary, index.entry_slot[:, :count], index.entry_slot[:, count:])
    slots = index.keys.shape[1]
    after = (slot + 1).clamp(max=slots - 1)
    before = (slot - 1).clamp(min=0)
    front_ok = (slot + 1 < slots) & (index.lane.gather(1, after) == lane)
    rear_ok = (slot > 0) & (index.lane.gather(1, before) == lane)
    front = torch.where(front_ok, index.vehicle.gather(1, after), -1)
    rear = torch.where(rear_ok, index.vehicle.gather(1, before), -1)
    return front, rear, primary | secondary


def search(
    index: LaneIndex, env: Tensor, vehicle: Tensor, x_m: Tensor, lane: Tensor
) -> tuple[Tensor, Tensor]:
    """Front and rear of a few vehicles (``env[k]``, ``vehicle[k]``) in ``lane[k]``, by binary search.

    :return: front and rear vehicle indices, -1 where there is none.
    """
    keys = index.keys[env]
    slots = keys.shape[1]
    key = lane.to(x_m.dtype) * LANE_KEY_STRIDE_M + x_m[env, vehicle]
    position = torch.searchsorted(keys, key[:, None].contiguous())[:, 0]
    # The asking vehicle, when it belongs to the lane, sits at exactly its key: step past it.
    here = position.clamp(max=slots - 1)
    is_self = (index.vehicle[env, here] == vehicle) & (position < slots)
    after = (position + is_self.long()).clamp(max=slots - 1)
    front_ok = (position + is_self.long() < slots) & (index.lane[env, after] == lane)
    front = torch.where(front_ok, index.vehicle[env, after], -1)
    before = (position - 1).clamp(min=0)
    rear_ok = (position > 0) & (index.lane[env, before] == lane)
    rear = torch.where(rear_ok, index.vehicle[env, before], -1)
    return front, rear
