"""highway-env's ``KinematicObservation`` on the road engine: the ego and its nearest vehicles, as
:class:`sims.batched.network_task.BatchedRoads` observes every road but racetrack-v0 (whose
occupancy grid is in :mod:`sims.batched.racetrack`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from sims.batched import physics, roads
from sims.batched.network import NetworkState
from sims.batched.roads import LaneView, RoadTensors
from sims.constants import LANE_WIDTH_M

PERCEPTION_DISTANCE_M = 5.0 * physics.MAX_SPEED_MPS  # AbstractEnv.PERCEPTION_DISTANCE


@dataclass(frozen=True)
class Observation:
    """highway-env's ``KinematicObservation`` settings, from the environment's configuration."""

    features: tuple[str, ...]
    vehicles: int
    absolute: bool
    normalize: bool
    clip: bool
    see_behind: bool
    ranges: dict[str, tuple[float, float]] | None
    include_obstacles: bool
    ego_x_lane: tuple[str, str, int] | None  # ExitObservation: the ego's x along the exit lane

    @classmethod
    def of(cls, config: dict[str, Any]) -> Observation:
        observation = config["observation"]
        if observation["type"] not in ("Kinematics", "ExitObservation"):
            raise ValueError(
                f"the batched engine computes Kinematics observations, not {observation['type']!r}"
            )
        ranges = observation.get("features_range")
        return cls(
            features=tuple(observation.get("features", ("presence", "x", "y", "vx", "vy"))),
            vehicles=int(observation.get("vehicles_count", 5)),
            absolute=bool(observation.get("absolute", False)),
            normalize=bool(observation.get("normalize", True)),
            clip=bool(observation.get("clip", True)),
            see_behind=bool(observation.get("see_behind", False)),
            ranges=None
            if ranges is None
            else {k: (float(v[0]), float(v[1])) for k, v in ranges.items()},
            # ExitObservation reads vehicles only, and the ego's x along the last lane before the exit.
            include_obstacles=observation["type"] == "Kinematics"
            and bool(observation.get("include_obstacles", True)),
            ego_x_lane=("1", "2", int(config["lanes_count"]))
            if observation["type"] == "ExitObservation"
            else None,
        )


def observe(
    state: NetworkState, road: RoadTensors, settings: Observation, ego_road_lanes: Tensor
) -> Tensor:
    """``KinematicObservation.observe`` for every scene ``(B, vehicles, features)``: the ego, then
    the nearest vehicles and obstacles by distance along the ego's lane (ahead, or close behind
    when ``see_behind`` is off), within the perception distance.

    :param ego_road_lanes: ``(B,)`` how many lanes the ego's road had when the episode started,
        which sets highway-env's default lateral range.
    """
    x, y, heading, speed = state.x_m, state.y_m, state.heading_rad, state.speed_mps
    cos, sin = torch.cos(heading), torch.sin(heading)
    view = LaneView.of(road, state.lane[:, :1])
    along, _ = roads.local_coordinates(view, x, y)
    ahead = along - along[:, :1]  # lane_distance_to, along the ego's lane
    dx, dy = x - x[:, :1], y - y[:, :1]
    near = (torch.sqrt(dx * dx + dy * dy) < PERCEPTION_DISTANCE_M) & state.present
    if not settings.include_obstacles:
        near = near & ~state.static
    if not settings.see_behind:
        near = near & (ahead > -2 * physics.LENGTH_M)
    near[:, 0] = False
    count = min(settings.vehicles - 1, x.shape[1] - 1)
    key = torch.where(near, ahead.abs(), torch.inf)
    distance, nearest = torch.topk(key, count, dim=1, largest=False, sorted=True)
    present = torch.isfinite(distance)
    columns = {
        "presence": torch.ones_like(x),
        "x": x,
        "y": y,
        "vx": speed * cos,
        "vy": speed * sin,
        "heading": heading,
        "cos_h": cos,
        "sin_h": sin,
    }
    relative = {"x", "y", "vx", "vy"} if not settings.absolute else set()
    table = []
    for name in settings.features:
        if name not in columns:
            raise ValueError(
                f"the batched engine does not observe {name!r}; it observes {sorted(columns)}"
            )
        values = columns[name]
        others = values.gather(1, nearest)
        if name in relative:
            others = others - values[:, :1]
        ego = values[:, :1]
        if name == "x" and settings.ego_x_lane is not None:
            exit_lane = torch.full_like(state.lane[:, :1], road.index(settings.ego_x_lane))
            ego, _ = roads.local_coordinates(LaneView.of(road, exit_lane), x[:, :1], y[:, :1])
        table.append(torch.cat([ego, others], dim=1))
    rows = torch.stack(table, dim=-1)
    if settings.normalize:
        rows = _normalise(rows, settings, ego_road_lanes)
    mask = torch.cat([torch.ones_like(present[:, :1]), present], dim=1)
    rows = torch.where(mask[..., None], rows, 0.0)
    missing = settings.vehicles - 1 - count
    if missing > 0:
        rows = torch.cat([rows, rows.new_zeros(x.shape[0], missing, rows.shape[-1])], dim=1)
    return rows.float()


def _normalise(rows: Tensor, settings: Observation, ego_road_lanes: Tensor) -> Tensor:
    """``KinematicObservation.normalize_obs``: each ranged feature mapped to [-1, 1], clipped."""
    width = LANE_WIDTH_M  # AbstractLane.DEFAULT_WIDTH
    speed = physics.MAX_SPEED_MPS
    ranges: dict[str, Any] = settings.ranges or {
        "x": (-5.0 * speed, 5.0 * speed),
        "y": (-width * ego_road_lanes[:, None], width * ego_road_lanes[:, None]),
        "vx": (-2.0 * speed, 2.0 * speed),
        "vy": (-2.0 * speed, 2.0 * speed),
    }
    columns = list(rows.unbind(-1))
    for index, name in enumerate(settings.features):
        if name in ranges:
            mapped = physics.lmap(columns[index], ranges[name], (-1.0, 1.0))
            columns[index] = mapped.clamp(-1, 1) if settings.clip else mapped
    return torch.stack(columns, dim=-1)
