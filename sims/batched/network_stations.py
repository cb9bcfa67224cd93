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
        first = LaneView.of(road, torch.zeros(1, dtype=torch.long, device=state.x_m.device))
        station, _ = roads.local_coordinates(first, state.x_m, state.y_m)
        order = torch.argsort(station, dim=1, stable=True)
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
