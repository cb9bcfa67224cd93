"""Ground truth read off highway-env's road: the ego, the other vehicles and the lanes around the ego.

Everything here is a frozen dataclass with its units in the field names, so perception can return the
same types it is scored against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from highway_env.road.lane import AbstractLane, StraightLane
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.kinematics import Vehicle

OFF_ROAD_MARGIN_M = (
    0.3  # [m] a corner further than this outside every lane is off the road (nuPlan)
)
LOOKAHEAD_M = 150.0  # [m] centreline sampled this far ahead of the ego
LOOKBEHIND_M = 60.0  # [m] and this far behind, to see who is closing in
CENTRELINE_STEP_M = 2.0  # [m] spacing of centreline samples
# [m] a lane that starts more than SEAM_MIN_M and less than SEAM_MAX_M from where the lane before it
# ends leaves a seam, which the road bridges with a straight connector (roundabout-v0: 5.6 m from
# the ring's outer lane to an exit).
SEAM_MIN_M = 0.5
SEAM_MAX_M = 30.0


@dataclass(frozen=True)
class LaneId:
    """A lane of highway-env's road network: the edge ``start -> end`` and the lane's index on it."""

    start: str
    end: str
    index: int

    @classmethod
    def of(cls, lane_index: tuple[str, str, int]) -> LaneId:
        start, end, index = lane_index
        return cls(str(start), str(end), int(index))

    def as_tuple(self) -> tuple[str, str, int]:
        return (self.start, self.end, self.index)


@dataclass(frozen=True, eq=False)
class Centreline:
    """A lane's centreline as read-only arrays, sampled every :data:`CENTRELINE_STEP_M`.

    ``station_m`` is the arc length from the point nearest the ego (negative behind it).
    """

    x_m: np.ndarray
    y_m: np.ndarray
    heading_rad: np.ndarray
    station_m: np.ndarray


@dataclass(frozen=True)
class LaneGeometry:
    """A lane near the ego: its id, width, speed limit and centreline (following the ego's route),
    and the station of its end on that centreline (``inf`` where it does not end in view), where
    it hands over to the next lane of the route: a junction's stop line."""

    lane: LaneId
    width_m: float
    speed_limit_mps: float
    centreline: Centreline
    end_station_m: float = math.inf
    # A lane of the opposite direction lies over it where the ego is: two-way-v0's overtaking lane,
    # which its oncoming traffic drives down (highway-env draws them as two lanes).
    carries_oncoming: bool = False


@dataclass(frozen=True)
class VehicleState:
    """Another road user or a static obstacle, in world coordinates.

    ``vehicle_id`` is stable within an episode.
    """

    vehicle_id: int
    x_m: float
    y_m: float
    heading_rad: float
    speed_mps: float
    length_m: float
    width_m: float
    # [m/s] how far the perceiver's speed may be off (one standard deviation); 0 where it is known,
    # as ground truth knows it
    speed_std_mps: float = 0.0


@dataclass(frozen=True)
class EgoState:
    """The ego vehicle: pose, speed, the lane it is in, and whether it crashed or left the road.

    ``on_road`` is highway-env's test (the centre on its lane); ``box_on_road`` asks that every corner
    of the ego's box lie within :data:`OFF_ROAD_MARGIN_M` of some lane (nuPlan's drivable-area test).
    """

    x_m: float
    y_m: float
    heading_rad: float
    speed_mps: float
    length_m: float
    width_m: float
    lane: LaneId
    crashed: bool
    on_road: bool
    box_on_road: bool


@dataclass(frozen=True)
class GroundTruth:
    """The simulator's state at ``time_s``: ego, others, and the ego's lane with its neighbours.

    ``lanes`` is ordered by lane index (left to right on a highway) and always holds the ego's lane.
    """

    time_s: float
    ego: EgoState
    vehicles: tuple[VehicleState, ...]
    lanes: tuple[LaneGeometry, ...]


def read_ground_truth(
    road: Road, ego: Vehicle, *, time_s: float, route: list, vehicle_ids: dict[int, int]
) -> GroundTruth:
    """Read the state of ``road`` around ``ego``.

    :param road: highway-env's road.
    :param ego: the controlled vehicle.
    :param time_s: simulation time [s].
    :param route: the ego's route as highway-env lane indices (may be empty); not modified.
    :param vehicle_ids: maps ``id(vehicle)`` to a stable number, extended in place for new vehicles.
    :return: the ground truth.
    """
    followed = followed_lane(road.network, ego.lane_index, ego.position, route)
    ego_state = EgoState(
        x_m=float(ego.position[0]),
        y_m=float(ego.position[1]),
        heading_rad=float(ego.heading),
        speed_mps=float(ego.speed),
        length_m=float(ego.LENGTH),
        width_m=float(ego.WIDTH),
        lane=LaneId.of(followed),
        crashed=bool(ego.crashed),
        on_road=bool(ego.on_road),
        box_on_road=box_on_road(road.network, ego.polygon()[:4]),
    )
    others = tuple(
        VehicleState(
            vehicle_id=vehicle_ids.setdefault(id(v), len(vehicle_ids)),
            x_m=float(v.position[0]),
            y_m=float(v.position[1]),
            heading_rad=float(v.heading),
            speed_mps=float(v.speed),
            length_m=float(v.LENGTH),
            width_m=float(v.WIDTH),
        )
        for v in [*road.vehicles, *road.objects]
        if v is not ego and v.solid  # static obstacles count (speed 0); landmarks do not
    )
    lanes = tuple(
        lane_geometry(road.network, index, ego.position, route)
        for index in sorted({*road.network.side_lanes(followed), followed})
    )
    return GroundTruth(time_s=time_s, ego=ego_state, vehicles=others, lanes=lanes)


def box_on_road(
    network: RoadNetwork, corners: np.ndarray, *, margin_m: float = OFF_ROAD_MARGIN_M
) -> bool:
    """Whether every corner lies within ``margin_m`` of the drivable area: the lanes of ``network``
    and the connectors bridging each lane's end to the start of the lanes that follow it."""
    lanes = drivable_lanes(network)
    return all(any(lane.on_lane(corner, margin=margin_m) for lane in lanes) for corner in corners)


def drivable_lanes(network: RoadNetwork) -> list[AbstractLane]:
    """The network's lanes plus straight connectors over the seams between consecutive lanes.

    highway-env's lane graphs are not watertight: in roundabout-v0 a lane ends several metres from
    where the next begins, and every vehicle, highway-env's own included, drives across the gap.
    The connectors count that gap as road. Cached on the network.
    """
    cached = getattr(network, "_drivable_lanes", None)
    if cached is not None:
        return cached
    lanes: list[AbstractLane] = list(network.lanes_list())
    for ends in network.graph.values():
        for end, edge_lanes in ends.items():
            for lane in edge_lanes:
                finish = lane.position(lane.length, 0.0)
                for following in network.graph.get(end, {}).values():
                    for nxt in following:
                        begin = nxt.position(0.0, 0.0)
                        gap = float(np.hypot(*(begin - finish)))
                        if SEAM_MIN_M < gap < SEAM_MAX_M:
                            lanes.append(
                                StraightLane(
                                    finish,
                                    begin,
                                    width=min(lane.width_at(lane.length), nxt.width_at(0.0)),
                                )
                            )
    network._drivable_lanes = lanes
    return lanes


def _carries_oncoming_traffic(
    network: RoadNetwork, lane_index: tuple[str, str, int], point: np.ndarray
) -> bool:
    """A lane of the road back (``end`` to ``start``) has ``point``, on ``lane_index``'s centre,
    within half its width and runs against it there."""
    start, end, _ = lane_index
    lane = network.get_lane(lane_index)
    heading = lane.heading_at(lane.local_coordinates(point)[0])
    for other in network.graph.get(end, {}).get(start, []):
        along, across = other.local_coordinates(point)
        beside = 0.0 <= along <= other.length and abs(across) <= other.width_at(along) / 2
        if beside and math.cos(other.heading_at(along) - heading) < 0:
            return True
    return False


def lane_geometry(
    network: RoadNetwork, lane_index: tuple[str, str, int], position: np.ndarray, route: list
) -> LaneGeometry:
    """Sample a lane's centreline around ``position``, continuing along ``route`` past its end.

    Where the next lane starts ahead of the lane's end (a seam, :func:`seam_m`), the centreline
    crosses it on the straight connector that :func:`drivable_lanes` counts as road, then follows
    the next lane from its start; elsewhere it goes on at the next lane's point abreast of the end.
    """
    lane = network.get_lane(lane_index)
    s_ego, _ = lane.local_coordinates(position)
    x, y, heading = [], [], []
    current_index, current = lane_index, lane
    remaining_route = route_from(route, lane_index)
    s = s_ego - LOOKBEHIND_M
    connector = None  # (start, direction) of the seam before `current`, while s < 0 on it
    for _ in range(int((LOOKAHEAD_M + LOOKBEHIND_M) / CENTRELINE_STEP_M) + 1):
        if s > current.length:
            end_point = current.position(current.length, 0.0)
            following = network.next_lane(current_index, route=remaining_route, position=end_point)
            if following != current_index:
                overshoot_m = s - current.length
                current_index, current = following, network.get_lane(following)
                gap_m = seam_m(end_point, current)
                if gap_m > 0:
                    start = current.position(0.0, 0.0)
                    connector = (start, (start - end_point) / gap_m)
                    s = overshoot_m - gap_m
                else:
                    s = current.local_coordinates(end_point)[0] + overshoot_m
        if connector is not None and s < 0:
            start, direction = connector
            point, lane_heading = start + s * direction, math.atan2(direction[1], direction[0])
        else:
            point, lane_heading = current.position(s, 0.0), current.heading_at(s)
        x.append(point[0])
        y.append(point[1])
        heading.append(lane_heading)
        s += CENTRELINE_STEP_M
    station = np.arange(len(x)) * CENTRELINE_STEP_M - LOOKBEHIND_M
    return LaneGeometry(
        lane=LaneId.of(lane_index),
        width_m=float(lane.width_at(s_ego)),
        speed_limit_mps=float(lane.speed_limit),
        end_station_m=float(lane.length - s_ego),
        carries_oncoming=_carries_oncoming_traffic(network, lane_index, lane.position(s_ego, 0.0)),
        centreline=Centreline(
            x_m=_frozen(x),
            y_m=_frozen(y),
            heading_rad=_frozen(np.unwrap(heading)),
            station_m=_frozen(station),
        ),
    )


def followed_lane(
    network: RoadNetwork, lane_index: tuple[str, str, int], position: np.ndarray, route: list
) -> tuple[str, str, int]:
    """The lane a vehicle on ``route`` follows: its closest lane ``lane_index``, unless that lane
    leaves the route at a fork, where it is the route's lane from the same node nearest to
    ``position`` (highway-env's ``AbstractLane.distance``; the first on a tie).

    highway-env's closest lane is blind to the route: past the seam between roundabout-v0's ring and
    an exit, the next ring segment is often closer than the exit the vehicle is turning into, and a
    centreline that goes on round the ring steers the vehicle back, 0.7 rad off the exit's heading.
    :func:`sims.batched.centreline.followed_lane` is the same rule on the engine's tensors.

    :param lane_index: the vehicle's closest lane (highway-env's ``lane_index``).
    :param position: the vehicle's position [m].
    :param route: highway-env lane indices (lane ``None``: any lane of the edge); may be empty.
    :return: the lane index to follow.
    """
    if not route or route_from(route, lane_index):
        return lane_index
    for start, end, lane_id in route:
        if start == lane_index[0]:
            count = len(network.graph[start][end])
            candidates = range(count) if lane_id is None else [lane_id]
            return min(
                ((start, end, k) for k in candidates),
                key=lambda index: network.get_lane(index).distance(position),
            )
    return lane_index


def seam_m(end_point: np.ndarray, following: AbstractLane) -> float:
    """The length [m] of the connector from a lane's end ``end_point`` to the start of the lane
    ``following`` it, where that lane starts more than :data:`SEAM_MIN_M` ahead of the end and
    less than :data:`SEAM_MAX_M` from it; 0 elsewhere (a lane that starts abreast of the end, as
    where a merging lane ends beside the next, is followed from its point abreast)."""
    entry, _ = following.local_coordinates(end_point)
    gap = float(np.hypot(*(following.position(0.0, 0.0) - end_point)))
    return gap if entry < -SEAM_MIN_M and gap < SEAM_MAX_M else 0.0


def route_from(route: list, lane_index: tuple[str, str, int]) -> list:
    """The part of ``route`` that starts at ``lane_index``'s road edge (empty if it is not on it)."""
    for k, step in enumerate(route):
        if tuple(step[:2]) == tuple(lane_index[:2]):
            return [tuple(s) for s in route[k:]]
    return []


def _frozen(values: list[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    array.flags.writeable = False
    return array
