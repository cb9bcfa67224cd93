"""racetrack-v0 on the batched engine: its initial scenes, its ``OccupancyGridObservation`` and its
reward, as highway-env 1.12's ``RacetrackEnv`` computes them.

The circuit's lanes, the traffic's IDM and MOBIL on them and the ego's kinematics are the engine's
own (:mod:`sims.batched.network_step`); this module holds what only this road has. Its episode ends
on a crash or, with ``terminate_off_road`` (the default), when the ego leaves its lane
(:meth:`sims.batched.network_task.BatchedRoads.end_step`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sims.batched import physics, roads
from sims.batched.network import IDM_DELTA, NetworkState, keep_rows
from sims.batched.network_spawn import Placement, Spawner, uniform
from sims.batched.roads import LaneView, RoadTensors

if TYPE_CHECKING:
    from sims.batched.network_task import BatchedRoads

LANE_PERCEPTION_DISTANCE_M = 100.0  # fill_road_layer_by_lanes: lanes drawn this far either way
SPAWN_CLEARANCE_M = 20.0  # RacetrackEnv._make_vehicles: a new car this close to another is dropped
GRID_FEATURES = ("presence", "vx", "vy", "on_road")  # OccupancyGridObservation.FEATURES


@dataclass(frozen=True)
class OccupancyGrid:
    """highway-env's ``OccupancyGridObservation`` settings, from the environment's configuration."""

    features: tuple[str, ...]
    grid_size_m: tuple[tuple[float, float], tuple[float, float]]  # [[min x, max x], [min y, max y]]
    grid_step_m: tuple[float, float]
    align_to_vehicle_axes: bool
    clip: bool
    as_image: bool
    speed_range_mps: dict[str, tuple[float, float]]  # the ranges of vx, vy mapped to [-1, 1]

    @classmethod
    def of(cls, config: dict[str, Any]) -> OccupancyGrid:
        """The settings of ``config["observation"]``; what the engine cannot compute is refused."""
        observation = config["observation"]
        features = tuple(observation.get("features", GRID_FEATURES))
        for name in features:
            if name not in GRID_FEATURES:
                raise ValueError(
                    f"the batched engine's occupancy grid has {GRID_FEATURES}, not {name!r}"
                )
        if observation.get("absolute", False):
            raise ValueError("the occupancy grid is relative to the ego; absolute=True is refused")
        size = observation.get("grid_size", [[-27.5, 27.5], [-27.5, 27.5]])
        step = observation.get("grid_step", [5, 5])
        default_range = (-2.0 * physics.MAX_SPEED_MPS, 2.0 * physics.MAX_SPEED_MPS)
        # highway-env maps the features its ranges name, and leaves the others as they are
        ranges = observation.get("features_range") or {"vx": default_range, "vy": default_range}
        unknown = set(ranges) - {"vx", "vy"}
        if unknown:
            raise ValueError(f"the occupancy grid ranges vx and vy only, not {sorted(unknown)}")
        return cls(
            features=features,
            grid_size_m=(
                (float(size[0][0]), float(size[0][1])),
                (float(size[1][0]), float(size[1][1])),
            ),
            grid_step_m=(float(step[0]), float(step[1])),
            align_to_vehicle_axes=bool(observation.get("align_to_vehicle_axes", False)),
            clip=bool(observation.get("clip", True)),
            as_image=bool(observation.get("as_image", False)),
            speed_range_mps={k: (float(v[0]), float(v[1])) for k, v in ranges.items()},
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """(features, cells along x, cells along y)."""
        cells = [
            math.floor((high - low) / step)
            for (low, high), step in zip(self.grid_size_m, self.grid_step_m, strict=True)
        ]
        return len(self.features), cells[0], cells[1]


def occupancy_grid(state: NetworkState, road: RoadTensors, settings: OccupancyGrid) -> Tensor:
    """``OccupancyGridObservation.observe`` for every scene: each vehicle (the ego included) marks
    the cell of its position relative to the ego, and the ``on_road`` layer marks the cells of
    every lane's centre sampled every grid step within 100 m (along the lane) of the ego
    (``fill_road_layer_by_lanes``). Cells nothing marks are 0, as highway-env's NaNs become.

    :param state: ``B`` scenes; ``road``: their road network; ``settings``: the observation's.
    :return: ``(B, features, cells along x, cells along y)``, float32 (uint8 with ``as_image``).
    """
    features, rows, columns = settings.shape
    x_m, y_m = state.x_m, state.y_m
    vehicle = state.present & ~state.static  # road.vehicles, not its objects
    layers = []
    for name in settings.features:
        if name == "on_road":
            layers.append(_road_layer(state, road, settings))
            continue
        if name == "presence":
            values = torch.ones_like(x_m)
        else:
            cos, sin = torch.cos(state.heading_rad), torch.sin(state.heading_rad)
            velocity_mps = state.speed_mps * (cos if name == "vx" else sin)
            values = velocity_mps - velocity_mps[:, :1]  # Vehicle.to_dict(origin_vehicle)
            if name in settings.speed_range_mps:
                values = physics.lmap(values, settings.speed_range_mps[name], (-1.0, 1.0))
        cell = _cells(x_m - x_m[:, :1], y_m - y_m[:, :1], state, settings)
        layers.append(_first_row_wins(cell, values, vehicle, rows * columns))
    grid = torch.stack(layers, dim=1).view(-1, features, rows, columns)  # NaN where unmarked
    if settings.clip:
        grid = grid.clamp(-1, 1)
    if settings.as_image:
        image = (grid.clamp(-1, 1) + 1) / 2 * 255
        return torch.where(torch.isnan(grid), 0.0, image).to(torch.uint8)
    return torch.nan_to_num(grid).float()


@functools.cache
def grid_kernel(compiled: bool) -> Callable[[NetworkState, RoadTensors, OccupancyGrid], Tensor]:
    """:func:`occupancy_grid`, eager or as one compiled graph: five times faster at 4,096 scenes
    (120 -> 24 ms on this 2-core CPU). The same cells in float64; in float32 a waypoint on a cell's
    border may fall the other way (4 of 590k cells at 2,048 scenes)."""
    return torch.compile(occupancy_grid) if compiled else occupancy_grid


def _cells(dx_m: Tensor, dy_m: Tensor, state: NetworkState, settings: OccupancyGrid) -> Tensor:
    """``pos_to_index`` of points relative to the ego ``(B, ...)``, as a flat cell index, -1 off
    the grid."""
    if settings.align_to_vehicle_axes:
        shape = (-1,) + (1,) * (dx_m.dim() - 1)
        cos = torch.cos(state.heading_rad[:, 0]).view(shape)
        sin = torch.sin(state.heading_rad[:, 0]).view(shape)
        dx_m, dy_m = cos * dx_m + sin * dy_m, -sin * dx_m + cos * dy_m
    (low_x, _), (low_y, _) = settings.grid_size_m
    _, rows, columns = settings.shape
    i = torch.floor((dx_m - low_x) / settings.grid_step_m[0]).long()
    j = torch.floor((dy_m - low_y) / settings.grid_step_m[1]).long()
    inside = (i >= 0) & (i < rows) & (j >= 0) & (j < columns)
    return torch.where(inside, i * columns + j, -1)


def _first_row_wins(cell: Tensor, values: Tensor, valid: Tensor, cells: int) -> Tensor:
    """``(B, cells)``: each cell's value from the first valid row in it (highway-env writes the rows
    in reverse order, so the first one's value stays), NaN where none is."""
    # one column more than the grid's cells, for the rows that fall outside it
    grid = values.new_full((cell.shape[0], cells + 1), math.nan)
    for row in reversed(range(cell.shape[1])):
        index = torch.where(valid[:, row] & (cell[:, row] >= 0), cell[:, row], cells)
        grid.scatter_(1, index[:, None], values[:, row : row + 1])
    return grid[:, :cells]


def _road_layer(state: NetworkState, road: RoadTensors, settings: OccupancyGrid) -> Tensor:
    """``fill_road_layer_by_lanes`` ``(B, cells)``: 1 in the cells of every lane's waypoints, NaN
    elsewhere."""
    _, rows, columns = settings.shape
    spacing = min(settings.grid_step_m)  # [m]
    count = math.ceil(2 * LANE_PERCEPTION_DISTANCE_M / spacing)  # np.arange's length
    batch = state.x_m.shape[0]
    lanes = torch.arange(road.lanes, device=state.x_m.device).expand(batch, -1)
    view = LaneView.of(road, lanes)
    ego_x_m, ego_y_m = state.x_m[:, :1], state.y_m[:, :1]
    origin_m, _ = roads.local_coordinates(view, ego_x_m, ego_y_m)  # (B, L)
    steps_m = torch.arange(count, device=origin_m.device, dtype=origin_m.dtype) * spacing
    waypoints_m = (origin_m - LANE_PERCEPTION_DISTANCE_M)[..., None] + steps_m  # (B, L, K)
    waypoints_m = torch.minimum(waypoints_m.clamp(min=0), view.length_m[..., None])
    wide = LaneView.of(road, lanes[..., None])
    x_m, y_m = roads.position(wide, waypoints_m, torch.zeros_like(waypoints_m))
    dx_m, dy_m = x_m - ego_x_m[..., None], y_m - ego_y_m[..., None]
    cell = _cells(dx_m, dy_m, state, settings).view(batch, -1)
    grid = state.x_m.new_full((batch, rows * columns + 1), math.nan)
    grid.scatter_(1, torch.where(cell >= 0, cell, rows * columns), 1.0)
    return grid[:, : rows * columns]


def spawn_racetrack(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``RacetrackEnv._make_vehicles``: the ego 20-50 m along a random lane of the first straight
    at the lane's speed limit; if ``other_vehicles`` is positive, a car ahead on the same lane of
    the first bend at 6-9 m/s, then up to ``other_vehicles - 1`` cars on random lanes, each
    dropped if within 20 m of one placed.

    :param spawner: the road's spawner (its configuration); ``like``: the dtype and device.
    :return: ``batch`` scenes: the ego, the car ahead, the others, padding where one was dropped.
    """
    road, device, dtype = spawner.road, like.device, like.dtype
    if int(spawner.config["controlled_vehicles"]) != 1:
        raise ValueError("the batched engine drives one controlled vehicle on racetrack-v0")
    other_vehicles = int(spawner.config["other_vehicles"])
    others = max(0, other_vehicles - 1)
    lane_id = torch.randint(2, (batch,), generator=generator, device=device)
    first = torch.tensor([road.index(("a", "b", i)) for i in range(2)], device=device)[lane_id]
    ego_along_m = uniform(generator, 20.0, 50.0, (batch,), like)
    bend = torch.tensor([road.index(("b", "c", i)) for i in range(2)], device=device)[lane_id]
    bend_length_m = float(road.length_m[road.index(("b", "c", 0))])  # lane 0's, for either lane
    front_along_m = uniform(generator, 0.0, bend_length_m, (batch,), like)
    front_speed_mps = 6.0 + uniform(generator, 0.0, 3.0, (batch,), like)
    count = torch.randint(max(1, others + 1), (batch,), generator=generator, device=device)
    lane, along_m, speed_mps = _random_lanes(road, others, batch, generator, like)
    ego_speed_mps = road.speed_limit_mps.to(device, dtype)[first]
    speeds_mps = torch.cat([ego_speed_mps[:, None], front_speed_mps[:, None], speed_mps], dim=1)
    lanes = torch.cat([first[:, None], bend[:, None], lane], dim=1)
    placement = Placement(
        lane=lanes,
        longitudinal_m=torch.cat([ego_along_m[:, None], front_along_m[:, None], along_m], dim=1),
        speed_mps=speeds_mps,
        target_speed_mps=speeds_mps,
        delta=torch.full_like(speeds_mps, IDM_DELTA),
        destination=torch.full_like(lanes, -1),
    )
    state = spawner.state(placement)
    return keep_rows(state, _kept(state, count, front=other_vehicles > 0))


def _random_lanes(
    road: RoadTensors, count: int, batch: int, generator: torch.Generator, like: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``count`` draws per scene of ``RoadNetwork.random_lane_index`` (an origin node, one of its
    roads, one of its lanes, each uniform), a point along the lane and a speed of 6-9 m/s."""
    device = like.device
    # table[origin node, its k-th road, lane id]: the lane's index (NONE past the last).
    by_road: dict[tuple[str, str], list[int]] = {}
    for lane_index, name in enumerate(road.names):
        by_road.setdefault(name[:2], []).append(lane_index)
    by_origin: dict[str, list[list[int]]] = {}
    for (start, _), lanes in by_road.items():
        by_origin.setdefault(start, []).append(lanes)
    widest = max(len(lanes) for lanes in by_road.values())
    table = torch.full((len(by_origin), max(map(len, by_origin.values())), widest), roads.NONE)
    for node, road_lanes in enumerate(by_origin.values()):
        for k, lanes in enumerate(road_lanes):
            table[node, k, : len(lanes)] = torch.tensor(lanes)
    table = table.to(device)
    road_count = (table[..., 0] >= 0).sum(1)  # roads from each origin
    lane_count = (table >= 0).sum(2)  # lanes of each road

    def pick(choices: Tensor) -> Tensor:  # uniform in 0..choices-1, as rng.integers / rng.choice
        fraction = torch.rand(choices.shape, generator=generator, device=device)
        return (fraction * choices).long().clamp(max=choices - 1)

    origin = torch.randint(len(by_origin), (batch, count), generator=generator, device=device)
    end = pick(road_count[origin])
    lane = table[origin, end, pick(lane_count[origin, end])]
    length_m = road.length_m.to(device, like.dtype)[lane]
    along_m = length_m * uniform(generator, 0.0, 1.0, (batch, count), like)
    return lane, along_m, 6.0 + uniform(generator, 0.0, 3.0, (batch, count), like)


def _kept(state: NetworkState, count: Tensor, *, front: bool) -> Tensor:
    """Which rows are on the road: the ego, the car ahead if ``front``, and the first ``count``
    others that are not within 20 m of a car kept before them."""
    present = state.present.clone()
    present[:, 1] = front
    for row in range(2, present.shape[1]):
        dx = state.x_m[:, :row] - state.x_m[:, row : row + 1]
        dy = state.y_m[:, :row] - state.y_m[:, row : row + 1]
        near = (torch.sqrt(dx * dx + dy * dy) < SPAWN_CLEARANCE_M) & present[:, :row]
        present[:, row] = (row - 2 < count) & ~near.any(1)
    return present


def racetrack_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``RacetrackEnv._reward``: lane centring, the action's norm and the collision, weighted,
    mapped from [collision reward, 1] to [0, 1], times on-road.

    :param task: the racetrack's task after its simulation steps.
    :param action: the policy step's actions as given (their norm is penalised).
    :return: ``(B,)`` rewards.
    """
    state, config = task.state, task.env_config
    view = LaneView.of(task.road, state.lane[:, 0])
    _, lateral_m = roads.local_coordinates(view, state.x_m[:, 0], state.y_m[:, 0])
    centring = 1 / (1 + config["lane_centering_cost"] * lateral_m**2)
    batch = lateral_m.shape[0]
    action_norm = torch.linalg.vector_norm(action.to(lateral_m.dtype).reshape(batch, -1), dim=1)
    reward = (
        config["lane_centering_reward"] * centring
        + config["action_reward"] * action_norm
        + config["collision_reward"] * state.crashed[:, 0].to(lateral_m.dtype)
    )
    return physics.lmap(reward, (config["collision_reward"], 1.0)) * task.on_road()
