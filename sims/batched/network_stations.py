"""Neighbour search by station on a road network whose lanes all run straight, side by side, in
one direction (highway-v0), for :mod:`sims.batched.network_decide`.

On such a road a vehicle's coordinate along any lane is its coordinate along the first one, less a
constant, so one station order serves every lane: each lane's members become a bit mask over the
slots of that order, and a vehicle's front and rear on any lane are found with a few integer
operations (:mod:`sims.batched.neighbours`, shared with the straight-road engine), where the dense
search of :class:`sims.batched.network_decide.Lanes` compares every pair of a scene: 51 rows a scene
on highway-v0. Membership is highway-env's (``on_lane`` with a 1 m margin, lane ends included) and
gaps are read along each lane as in the dense search, from the same coordinates.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.neighbours import MAX_VEHICLES, Neighbours, lane_masks, lookup
from sims.batched.network import NetworkState
from sims.batched.roads import LaneView, RoadTensors
from sims.constants import ON_LANE_MARGIN_M


def applies(road: RoadTensors, count: int) -> bool:
    """Whether the search by station serves ``road`` with ``count`` rows a scene.

    :return: every lane is straight and heads the same way (read once, when the road was made,
        so that a compiled graph does not branch on a tensor), and the rows fit the bit masks.
        Along such lanes a row's order is the same on each, up to rounding, which can only swap
        rows whose stations tie to the last bits: highway-v0's lanes all start at x = 0 and head
        along x, where the order is exact."""
    return road.straight_one_way and count <= MAX_VEHICLES


def stations_m(state: NetworkState, road: RoadTensors) -> Tensor:
    """Every row's station ``(B, N)`` [m]: its coordinate along the road's first lane, which orders
    the rows along every lane where :func:`applies`."""
    first = LaneView.of(road, torch.zeros(1, dtype=torch.long, device=state.x_m.device))
    station, _ = roads.local_coordinates(first, state.x_m, state.y_m)
    return station


class Stations:
    """Every row of every scene along every lane, by slot of the scene's station order
    ``(B, L, N)``, and each lane's members as bit masks over those slots. A row whose station
    ties the asking row's exactly counts ahead if it comes later in row order, behind if earlier,
    as on the straight-road engine; highway-env counts it ahead either way, and takes the last of
    tied rows in front where this takes the first. No tie occurred in the fidelity episodes
    (float64); in float32, stations a kilometre out tie within 0.1 mm."""

    def __init__(self, along_m: Tensor, lane: Tensor, table: Neighbours) -> None:
        self.along_m, self.lane, self.table = along_m, lane, table

    @classmethod
    def of(cls, state: NetworkState, road: RoadTensors) -> Stations:
        order = torch.argsort(stations_m(state, road), dim=1, stable=True)
        # Every lane's coordinates of the rows taken in station order: the masks' slots.
        lanes = LaneView.of(road, torch.arange(road.lanes, device=state.x_m.device)[:, None])
        x, y = state.x_m.gather(1, order)[:, None, :], state.y_m.gather(1, order)[:, None, :]
        along, across = roads.local_coordinates(lanes, x, y)
        member = roads.on_lane(lanes, along, across, ON_LANE_MARGIN_M)
        member = member & state.present.gather(1, order)[:, None, :]
        return cls(along, state.lane.clamp(min=0), lane_masks(order, member))

    def neighbours(self, env: Tensor, row: Tensor, lane: Tensor) -> tuple[Tensor, Tensor]:
        """``Road.neighbour_vehicles``: the front and rear rows (-1: none) of row ``row[k]`` of
        scene ``env[k]`` on lane ``lane[k]``."""
        return lookup(self.table, env, self.table.rank[env, row], lane.clamp(min=0))

    def along_at(self, flat: Tensor, column: Tensor) -> Tensor:
        """Row ``column[k]`` along the own lane of row ``flat[k]`` (scene times rows plus row) [m]."""
        env = flat // self.along_m.shape[2]
        slot = self.table.rank[env, column]
        return self.along_m[env, self.lane.view(-1)[flat], slot]

    def along_rows(self, flat: Tensor) -> Tensor:
        """Every row along the own lane of row ``flat[k]`` ``(M, N)`` [m], in row order."""
        env = flat // self.along_m.shape[2]
        return self.along_m[env, self.lane.view(-1)[flat]].gather(1, self.table.rank[env])


COLLISION_WINDOW = 8
"""The collision pre-test compares each row with the next this many in station order; a scene where
that may miss a pair is pre-tested over every pair instead (:func:`near_pairs`)."""


def window_pairs(
    state: NetworkState,
    road: RoadTensors,
    dt_s: float,
    tests: Callable[..., tuple[Tensor, Tensor]] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """``Road.step``'s spherical pre-test between each row and the next :data:`COLLISION_WINDOW`
    in station order: ``(B, N, window)`` int32 (see :func:`sims.batched.network_step.near_pairs`
    for the test), entry ``[b, p, s - 1]`` for the rows at slots ``p`` and ``p + s`` of the
    order; the order ``(B, N)``; and which scenes the window may not hold every close pair of
    ``(B,)`` int32 (:func:`window_tests`). Rows that are not present sort last and pass no test.

    :param tests: :func:`window_tests` or its compiled graph. The sort and the gathers here stay
        eager: compiled with the tests, the whole took nine times as long (137 ms against 15 at
        4,096 highway-v0 scenes).
    """
    count = state.x_m.shape[1]
    window = min(COLLISION_WINDOW, count - 1)
    station_m = torch.where(state.present, stations_m(state, road), torch.inf)
    order = torch.argsort(station_m, dim=1)
    diagonal_m = torch.sqrt(state.length_m**2 + state.width_m**2)
    moving = state.present & ~state.static
    longest_m = diagonal_m.amax(1) + torch.where(moving, state.speed_mps.abs(), 0).amax(1) * dt_s

    def sorted_padded(values: Tensor, padding: float) -> Tensor:
        return torch.nn.functional.pad(values.gather(1, order), (0, window), value=padding)

    rows = torch.arange(count, device=order.device).expand_as(order)
    near, short = (tests or window_tests)(
        sorted_padded(station_m, 0.0),
        sorted_padded(state.x_m, 0.0),
        sorted_padded(state.y_m, 0.0),
        sorted_padded(diagonal_m, 0.0),
        sorted_padded(state.speed_mps, 0.0),
        sorted_padded(rows, count),
        sorted_padded(moving.int(), 0),
        sorted_padded(state.present.int(), 0),
        longest_m,
        dt_s,
    )
    return near, order, short


def window_tests(
    station_m: Tensor,
    x_m: Tensor,
    y_m: Tensor,
    diagonal_m: Tensor,
    speed_mps: Tensor,
    row: Tensor,
    moving: Tensor,
    present: Tensor,
    longest_m: Tensor,
    dt_s: float,
) -> tuple[Tensor, Tensor]:
    """The tests of :func:`window_pairs` on every scene's rows in station order ``(B, N + window)``,
    padded after the last slot (``row`` with ``N``, the rest with 0): each slot against the next
    ``window``, and whether some slot's row is within the scene's longest reach ``longest_m``
    ``(B,)`` of the row ``window`` slots on (a row farther along the road is farther away too).

    :return: ``(B, N, window)`` and ``(B,)``, int32.
    """
    width = row.shape[1]
    window = min(COLLISION_WINDOW, (width - 1) // 2)  # width = N + min(COLLISION_WINDOW, N - 1)
    count = width - window
    near = []
    for shift in range(1, window + 1):
        ahead = slice(shift, shift + count)
        # The pair's first row is the one first in highway-env's list: its speed, it must move.
        earlier = row[:, :count] < row[:, ahead]
        first_moving = torch.where(earlier, moving[:, :count], moving[:, ahead])
        second_present = torch.where(earlier, present[:, ahead], present[:, :count])
        first_speed_mps = torch.where(earlier, speed_mps[:, :count], speed_mps[:, ahead])
        dx_m, dy_m = x_m[:, ahead] - x_m[:, :count], y_m[:, ahead] - y_m[:, :count]
        reach_m = (diagonal_m[:, :count] + diagonal_m[:, ahead]) / 2 + first_speed_mps * dt_s
        close = torch.sqrt(dx_m * dx_m + dy_m * dy_m) <= reach_m
        near.append(close.int() * first_moving * second_present)
    gaps_m = station_m[:, window:count] - station_m[:, : count - window]
    short = (gaps_m <= longest_m[:, None]).any(1) & (window < count - 1)
    return torch.stack(near, dim=-1), short.int()
