"""Neighbour search on a straight multi-lane road, for every vehicle of every environment at once.

highway-env's ``Road.neighbour_vehicles(vehicle, lane)`` scans all vehicles: a vehicle belongs to a
lane when its centre is within half a lane width plus 1 m of the lane's centreline, and the
neighbours are the nearest members ahead (at or beyond the vehicle's station) and behind. That scan
is O(N) per query and O(N^2) per simulation step.

Here every environment's vehicles are kept in station order (one sort per simulation step, shared
with the collision search), and each lane's members are a bit mask over the slots of that order. The
front of any vehicle in any lane is then the lowest member bit above the vehicle's slot: a few
integer operations per query, with fixed shapes, for every vehicle of every environment at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sims.constants import LANE_WIDTH_M, ON_LANE_MARGIN_M

# Each lane's members are one bit per slot of the station order in a 64-bit word.
MAX_VEHICLES = 63


@dataclass(frozen=True)
class Neighbours:
    """Each environment's vehicles in station order, and each lane's members as bit masks.

    Bit ``p`` of ``ahead[b, l]`` is set when slot ``p`` of the station order belongs to lane ``l``;
    ``behind`` holds the same bits in reverse (slot ``p`` at bit ``N - 1 - p``), so that the nearest
    member behind a slot is found like the nearest ahead, as a lowest set bit.
    """

    order: Tensor  # (B, N) vehicles by station
    rank: Tensor  # (B, N) each vehicle's slot in ``order``
    ahead: Tensor  # (B, lanes) int64
    behind: Tensor  # (B, lanes) int64


def station_order(x_m: Tensor) -> Tensor:
    """Every environment's vehicles sorted by station ``(B, N)``."""
    return torch.argsort(x_m, dim=1)


def neighbours(order: Tensor, y_m: Tensor, lanes: int) -> Neighbours:
    """The lane masks of every environment; ``order`` from :func:`station_order`."""
    y_sorted = y_m.gather(1, order)
    centres_m = torch.arange(lanes, device=y_m.device, dtype=y_m.dtype) * LANE_WIDTH_M
    # ``StraightLane.on_lane`` with margin 1: within half a width plus the margin of the centre.
    member = (
        y_sorted[:, None, :] - centres_m[:, None]
    ).abs() <= LANE_WIDTH_M / 2 + ON_LANE_MARGIN_M
    return lane_masks(order, member)


def lane_masks(order: Tensor, member: Tensor) -> Neighbours:
    """The lane masks of every environment from each slot's membership of each lane.

    :param order: ``(B, N)`` every environment's vehicles by station (:func:`station_order`).
    :param member: ``(B, lanes, N)`` bool, whether the vehicle at slot ``p`` of ``order``
        belongs to lane ``l``.
    """
    count = order.shape[1]
    if count > MAX_VEHICLES:
        raise ValueError(f"at most {MAX_VEHICLES} vehicles per scene, got {count}")
    slots = torch.arange(count, device=order.device)
    return Neighbours(
        order=order,
        rank=torch.empty_like(order).scatter_(1, order, slots.expand_as(order)),
        ahead=torch.where(member, 1 << slots, 0).sum(-1),
        behind=torch.where(member, 1 << (count - 1 - slots), 0).sum(-1),
    )


def lookup(table: Neighbours, env: Tensor, slot: Tensor, lane: Tensor) -> tuple[Tensor, Tensor]:
    """Front and rear (-1: none) in ``lane`` of the vehicle at ``slot`` of environment ``env``.

    The three arguments share any shape; ``lane`` must be a lane of the road. The vehicle itself is
    never its own neighbour.
    """
    count, lanes = table.order.shape[1], table.ahead.shape[1]
    word = env * lanes + lane
    # Clear the bits up to and including the vehicle's own slot; the lowest bit left is the front.
    ahead = table.ahead.view(-1)[word] & -(2 << slot)
    behind = table.behind.view(-1)[word] & -(2 << (count - 1 - slot))
    front_slot = _lowest_bit(ahead).clamp(0, count - 1)
    rear_slot = (count - 1 - _lowest_bit(behind)).clamp(0, count - 1)
    order = table.order.view(-1)
    front = torch.where(ahead != 0, order[env * count + front_slot], -1)
    rear = torch.where(behind != 0, order[env * count + rear_slot], -1)
    return front, rear


def _lowest_bit(word: Tensor) -> Tensor:
    """The index of the lowest set bit of each int64 ``word`` (meaningless where it is 0).

    The lowest bit alone is a power of two, which a float32 holds exactly: its exponent is the index.
    """
    power = (word & -word).to(torch.float32)
    return ((power.view(torch.int32) >> 23) - 127).long()
