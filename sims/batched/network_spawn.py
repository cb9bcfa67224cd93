"""Initial scenes of highway-env's roads, drawn in batches with the distributions of highway-env's own
``_make_vehicles`` (merge-v0, roundabout-v0) and ``_create_vehicles`` (highway-v0, exit-v0).

Each spawner draws from a seeded ``torch.Generator``: the same distributions as highway-env, not the
same draws. Vehicles are placed as highway-env places them (``make_on_lane``: a point and heading of
a lane; the closest lane then becomes the vehicle's lane and target), and routes are planned with
highway-env's own ``RoadNetwork.shortest_path`` once per (start, destination), when the spawner is made.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.ego import meta_target_speed_mps
from sims.batched.network import IDM_DELTA, NetworkConfig, NetworkEgoControl, NetworkState
from sims.batched.roads import LaneView, RoadTensors
from sims.batched.state import DELTA_RANGE, EGO_INITIAL_SPEED_MPS, random_stations_m
from sims.constants import VEHICLE_LENGTH_M, VEHICLE_WIDTH_M

OBSTACLE_SIZE_M = 2.0  # RoadObject.LENGTH and WIDTH


@dataclass(frozen=True)
class Placement:
    """Where ``B`` scenes' rows start, as highway-env's constructors are given them; ``(B, N)``."""

    lane: Tensor  # long: the lane given to make_on_lane (or create_random)
    longitudinal_m: Tensor
    speed_mps: Tensor
    target_speed_mps: Tensor
    delta: Tensor
    destination: Tensor  # (B, N) long: an index into the spawner's destinations, -1 for none
    heading_at_m: Tensor | None = (
        None  # the longitudinal where the heading is read, if not the same
    )


class Spawner:
    """Draws the initial scenes of one road for the batched engine.

    :param env: a live highway-env environment of that road (its network and configuration).
    :param draw: the road's draw (:data:`DRAWS`): a :class:`Placement` of every row.
    """

    def __init__(
        self,
        env: Any,
        road: RoadTensors,
        ego_control: NetworkEgoControl,
        *,
        destinations: tuple[str, ...] = (),
        meta_target_speeds_mps: tuple[float, ...] = (20.0, 25.0, 30.0),
    ) -> None:
        self.road = road
        self.ego_control = ego_control
        self.config = env.unwrapped.config
        self.meta_target_speeds_mps = meta_target_speeds_mps
        self.destinations = destinations  # the nodes that `routes` lead to, in its order
        # The engine's configuration, for a road whose initial scene is simulated (intersection-v0).
        self.network_config: NetworkConfig | None = None
        self.compiled = False  # whether that simulation runs the engine's compiled kernels
        network = env.unwrapped.road.network
        self.obstacles = [
            (float(item.position[0]), float(item.position[1]))
            for item in env.unwrapped.road.objects
        ]
        # plan_route_to(destination) from every lane, as ``(L, D, steps, 2)`` (road, lane id).
        routes = [
            [self._plan(network, name, destination) for destination in destinations]
            for name in road.names
        ]
        length = max([1, *(len(route) for row in routes for route in row)])
        table = torch.full((road.lanes, max(1, len(destinations)), length, 2), roads.NONE)
        for lane, row in enumerate(routes):
            for column, route in enumerate(row):
                table[lane, column, : len(route)] = torch.tensor(route)
        self.routes = table

    def _plan(
        self, network: Any, lane: tuple[str, str, int], destination: str
    ) -> list[tuple[int, int]]:
        """``ControlledVehicle.plan_route_to``: the lane itself, then the roads of the shortest path."""
        try:
            path = network.shortest_path(lane[1], destination)
        except KeyError:
            path = []
        steps = [(self.road.road_number(lane[0], lane[1]), lane[2])]
        return steps + [(self.road.road_number(a, b), roads.NONE) for a, b in pairwise(path)]

    def state(
        self, placement: Placement, *, ego_destination: int = -1, lane_changes: bool = True
    ) -> NetworkState:
        """The engine's state of vehicles placed by ``placement`` (row 0 the ego), then obstacles."""
        road, dtype = self.road, placement.longitudinal_m.dtype
        batch, vehicles = placement.lane.shape
        device = placement.lane.device
        view = LaneView.of(road, placement.lane)
        x, y = roads.position(view, placement.longitudinal_m, torch.zeros_like(placement.speed_mps))
        heading_at = placement.heading_at_m
        heading = roads.heading_at(
            view, placement.longitudinal_m if heading_at is None else heading_at
        )
        x, y, heading = self._with_obstacles(x, y, heading)
        count = x.shape[1]
        static = torch.arange(count, device=device) >= vehicles
        static = static.expand(batch, count)

        def extend(values: Tensor, fill: float) -> Tensor:
            return torch.nn.functional.pad(values, (0, count - vehicles), value=fill)

        speed = extend(placement.speed_mps, 0.0)
        lane = roads.closest_lane(road, x, y, heading)
        target_speed = extend(placement.target_speed_mps, 0.0)
        destination = extend(placement.destination, -1)
        if self.ego_control == "continuous":
            target_speed[:, 0] = 0.0  # a plain Vehicle has no target speed, and plans no route
            destination[:, 0] = -1
        elif self.ego_control == "follow":
            destination[:, 0] = ego_destination  # it keeps its speed until told another
        else:
            # MDPVehicle: the target speed snaps to the nearest of its target speeds.
            target_speed[:, 0] = meta_target_speed_mps(
                torch.zeros_like(target_speed[:, 0]),
                target_speed[:, 0],
                target_speed[:, 0],
                self.meta_target_speeds_mps,
                snap=True,
            )
            destination[:, 0] = ego_destination
        routes = self.routes.to(device)[lane, destination.clamp(min=0)]
        none = (destination < 0)[..., None]
        route_road = torch.where(none, roads.NONE, routes[..., 0])
        route_lane = torch.where(none, roads.NONE, routes[..., 1])
        is_vehicle = ~static
        rows = torch.arange(count, device=device).expand(batch, count)
        idm = is_vehicle & (rows > 0)
        size = torch.where(static, OBSTACLE_SIZE_M, VEHICLE_LENGTH_M).to(dtype)
        false = torch.zeros_like(static)
        return NetworkState(
            x_m=x,
            y_m=y,
            heading_rad=heading,
            speed_mps=speed,
            target_speed_mps=target_speed,
            lane=lane,
            target_lane=lane.clone(),
            delta=extend(placement.delta, IDM_DELTA),
            # IDMVehicle.__init__: the lane-change timer starts at a pseudo-random phase.
            timer_s=torch.where(idm, torch.remainder((x + y) * math.pi, 1.0), 0.0),
            crashed=false.clone(),
            impact_x_m=torch.zeros_like(x),
            impact_y_m=torch.zeros_like(x),
            has_impact=false.clone(),
            present=torch.ones_like(static),
            static=static.clone(),
            idm=idm,
            controlled=idm | ((rows == 0) & (self.ego_control == "meta")),
            lane_changes=idm & lane_changes,
            length_m=size,
            width_m=torch.where(static, OBSTACLE_SIZE_M, VEHICLE_WIDTH_M).to(dtype),
            route_road=route_road,
            route_lane=route_lane,
            route_head=torch.zeros_like(lane),
            yielding=false.clone(),
            yield_timer=torch.zeros_like(lane),
            ego_steering_rad=torch.zeros(batch, device=device, dtype=dtype),
            ego_acceleration_mps2=torch.zeros(batch, device=device, dtype=dtype),
            steps=torch.zeros(batch, device=device, dtype=torch.long),
            road_steps=torch.zeros(batch, device=device, dtype=torch.long),
        )

    def _with_obstacles(
        self, x: Tensor, y: Tensor, heading: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        if not self.obstacles:
            return x, y, heading
        fixed = torch.tensor(self.obstacles, device=x.device, dtype=x.dtype)
        batch = x.shape[0]
        return (
            torch.cat([x, fixed[:, 0].expand(batch, -1)], dim=1),
            torch.cat([y, fixed[:, 1].expand(batch, -1)], dim=1),
            torch.cat(
                [heading, torch.zeros(batch, len(self.obstacles), dtype=x.dtype, device=x.device)],
                dim=1,
            ),
        )


def uniform(
    generator: torch.Generator, low: float, high: float, shape: Sequence[int], like: Tensor
) -> Tensor:
    """``rng.uniform(low, high)`` for a batch: ``shape`` draws of ``like``'s dtype and device."""
    draw = torch.rand(*shape, generator=generator, device=like.device, dtype=like.dtype)
    return low + (high - low) * draw


def _normal(generator: torch.Generator, shape: Sequence[int], like: Tensor) -> Tensor:
    return torch.randn(*shape, generator=generator, device=like.device, dtype=like.dtype)


def spawn_merge(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``MergeEnv._make_vehicles``: the ego at 30 m/s on the main road's right lane, three vehicles
    near it in random lanes, and one on the ramp that wants 30 m/s."""
    road = spawner.road
    lanes = torch.tensor([road.index(("a", "b", 0)), road.index(("a", "b", 1))], device=like.device)
    choice = torch.randint(2, (batch, 3), generator=generator, device=like.device)
    traffic = torch.tensor([90.0, 70.0, 5.0], device=like.device, dtype=like.dtype)
    speeds = torch.tensor([29.0, 31.0, 31.5], device=like.device, dtype=like.dtype)
    # Per vehicle, highway-env draws the lane, then the position, then the speed.
    position = traffic + uniform(generator, -5.0, 5.0, (batch, 3), like)
    speed = speeds + uniform(generator, -1.0, 1.0, (batch, 3), like)

    def column(value: float) -> Tensor:
        return torch.full((batch, 1), value, device=like.device, dtype=like.dtype)

    lane = torch.cat(
        [
            torch.full((batch, 1), road.index(("a", "b", 1)), device=like.device),
            lanes[choice],
            torch.full((batch, 1), road.index(("j", "k", 0)), device=like.device),
        ],
        dim=1,
    )
    speed_all = torch.cat([column(30.0), speed, column(20.0)], dim=1)
    target = torch.cat([column(30.0), speed, column(30.0)], dim=1)
    placement = Placement(
        lane=lane,
        longitudinal_m=torch.cat([column(30.0), position, column(110.0)], dim=1),
        speed_mps=speed_all,
        target_speed_mps=target,
        delta=torch.full_like(speed_all, IDM_DELTA),
        destination=torch.full_like(lane, -1),
    )
    return spawner.state(placement)


ROUNDABOUT_DESTINATIONS = ("exr", "sxr", "nxr", "nxs")  # the traffic's three, the ego's


def spawn_roundabout(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``RoundaboutEnv._make_vehicles``: the ego entering from the south at 8 m/s, bound north; one
    vehicle entering the ring, two on it, one entering from the east, each to a random exit."""
    road, device = spawner.road, like.device
    starts = [("we", "sx", 1), ("we", "sx", 0), ("we", "sx", 0), ("eer", "ees", 0)]
    nominal = torch.tensor([5.0, 20.0, -20.0, 50.0], device=device, dtype=like.dtype)
    position = nominal + 2.0 * _normal(generator, (batch, 4), like)
    speed = 16.0 + 2.0 * _normal(generator, (batch, 4), like)
    destination = torch.randint(3, (batch, 4), generator=generator, device=device)
    delta = uniform(generator, *DELTA_RANGE, (batch, 4), like)
    ego_lane = ("ser", "ses", 0)

    def column(value: float) -> Tensor:
        return torch.full((batch, 1), value, device=device, dtype=like.dtype)

    lane = torch.cat(
        [
            torch.full((batch, 1), road.index(ego_lane), device=device),
            torch.tensor([road.index(start) for start in starts], device=device).expand(batch, 4),
        ],
        dim=1,
    )
    longitudinal = torch.cat([column(125.0), position], dim=1)
    placement = Placement(
        lane=lane,
        longitudinal_m=longitudinal,
        speed_mps=torch.cat([column(8.0), speed], dim=1),
        target_speed_mps=torch.cat([column(8.0), speed], dim=1),
        delta=torch.cat([column(IDM_DELTA), delta], dim=1),
        destination=torch.cat([torch.full((batch, 1), -1, device=device), destination], dim=1),
        # The ego is placed at 125 m of its lane with the lane's heading at 140 m, as highway-env does.
        heading_at_m=torch.cat([column(140.0), position], dim=1),
    )
    return spawner.state(placement, ego_destination=ROUNDABOUT_DESTINATIONS.index("nxs"))


def spawn_exit(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``ExitEnv._create_vehicles``: the ego at 25 m/s in lane 0, then 20 vehicles in lanes drawn in
    proportion to their index, each at its lane's speed limit, placed one after another
    (``Vehicle.create_random``); none changes lane, all go to the end of the road."""
    road, device = spawner.road, like.device
    config = spawner.config
    lanes_count = int(config["lanes_count"])
    count = int(config["vehicles_count"])
    weights = torch.arange(lanes_count, device=device, dtype=like.dtype)
    lane_id = torch.multinomial(
        weights.expand(batch, -1), count, replacement=True, generator=generator
    )
    lane = _lanes(road, "0", "1", lanes_count, device)[lane_id]
    speed = road.speed_limit_mps.to(device, like.dtype)[lane]
    x = _stations_m(config, speed, generator, like)
    lanes = torch.cat(
        [torch.full((batch, 1), road.index(("0", "1", 0)), device=device), lane], dim=1
    )
    speeds = torch.cat(
        [torch.full((batch, 1), EGO_INITIAL_SPEED_MPS, device=device, dtype=like.dtype), speed],
        dim=1,
    )
    placement = Placement(
        lane=lanes,
        longitudinal_m=x,
        speed_mps=speeds,
        target_speed_mps=speeds,
        delta=torch.full_like(speeds, IDM_DELTA),
        destination=torch.zeros_like(lanes),  # plan_route_to("3")
    )
    return spawner.state(placement, lane_changes=False)


def spawn_highway(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``HighwayEnv._create_vehicles``: the ego at 25 m/s in a random lane (or the configuration's
    ``initial_lane_id``), then ``vehicles_count`` vehicles, each in a random lane at 0.7-0.8 times
    the speed limit with a random IDM exponent, placed one after another (``Vehicle.create_random``,
    as the straight-road engine's :func:`sims.batched.state.spawn` draws them); no routes."""
    road, device = spawner.road, like.device
    config = spawner.config
    lanes_count = int(config["lanes_count"])
    count = int(config["vehicles_count"])
    lane_id = torch.randint(lanes_count, (batch, 1 + count), generator=generator, device=device)
    if config.get("initial_lane_id") is not None:
        lane_id[:, 0] = int(config["initial_lane_id"])
    lane = _lanes(road, "0", "1", lanes_count, device)[lane_id]
    limit = road.speed_limit_mps.to(device, like.dtype)[lane[:, 1:]]
    speed = limit * uniform(generator, 0.7, 0.8, (batch, count), like)
    x = _stations_m(config, speed, generator, like)
    ego = torch.full((batch, 1), EGO_INITIAL_SPEED_MPS, device=device, dtype=like.dtype)
    speeds = torch.cat([ego, speed], dim=1)
    delta = uniform(generator, *DELTA_RANGE, (batch, count), like)
    placement = Placement(
        lane=lane,
        longitudinal_m=x,
        speed_mps=speeds,
        target_speed_mps=speeds,
        delta=torch.cat([torch.full_like(ego, IDM_DELTA), delta], dim=1),
        destination=torch.full_like(lane, -1),
    )
    return spawner.state(placement)


def _stations_m(
    config: dict[str, Any], speeds_mps: Tensor, generator: torch.Generator, like: Tensor
) -> Tensor:
    """:func:`~sims.batched.state.random_stations_m` for a road of highway-env configuration
    ``config`` (its lane count, ``ego_spacing`` and density), drawing the ego's spacing factor,
    then each vehicle's."""
    batch, count = speeds_mps.shape
    return random_stations_m(
        speeds_mps,
        uniform(generator, 0.9, 1.1, (batch, 1), like),
        uniform(generator, 0.9, 1.1, (batch, count), like),
        lanes=int(config["lanes_count"]),
        ego_spacing=float(config["ego_spacing"]),
        vehicles_density=float(config["vehicles_density"]),
    )


def _lanes(road: RoadTensors, start: str, end: str, count: int, device: torch.device) -> Tensor:
    """The tensor indices of the lanes ``0..count-1`` of the road from ``start`` to ``end``."""
    return torch.tensor([road.index((start, end, i)) for i in range(count)], device=device)


Draw = Callable[[Spawner, int, torch.Generator, Tensor], NetworkState]
"""A road's draw of ``B`` initial scenes (:data:`sims.batched.network_task.DRAWS`)."""
