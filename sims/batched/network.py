"""The batched engine on any highway-env road network: its configuration, its state, and where states
come from.

A :class:`NetworkState` holds ``B`` scenes of ``N`` rows as ``(B, N)`` tensors. Row 0 of every scene
is the ego; the other rows are highway-env's IDM vehicles, then its road objects (obstacles, which
never move), then padding (``present`` false), so that scenes with different vehicle counts share one
batch. Each vehicle drives along lanes of one :class:`sims.batched.roads.RoadTensors` and follows
its route through the lane graph, as highway-env's ``ControlledVehicle`` does.

States come from :func:`from_highway_env`, which copies live highway-env scenes exactly, for the
fidelity checks and for any initial scene that highway-env can draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.physics import HIGHWAY_ENV_IDM, IdmConstants
from sims.batched.roads import RoadTensors
from sims.batched.state import Clock, select_rows

# continuous and meta: highway-env's ContinuousAction and DiscreteMetaAction; follow: the ego drives
# as an IDM vehicle along its route, towards a lane of its road and a speed set from outside (no
# MOBIL, no aborts), as the stack's planning executor does (sims.batched.state.EgoControl).
NetworkEgoControl = Literal["continuous", "meta", "follow"]
NETWORK_EGO_CONTROLS: tuple[NetworkEgoControl, ...] = ("continuous", "meta", "follow")
IDM_DELTA = 4.0  # IDMVehicle.DELTA, before randomize_behavior


@dataclass(frozen=True)
class NetworkConfig(Clock):
    """What the engine needs of a highway-env environment's configuration."""

    simulation_hz: int = 15
    policy_hz: int = 1
    duration_s: float = 40.0
    ego_control: NetworkEgoControl = "continuous"
    meta_target_speeds_mps: tuple[float, ...] = (20.0, 25.0, 30.0)
    idm: IdmConstants = HIGHWAY_ENV_IDM  # the traffic's IDM constants

    def __post_init__(self) -> None:
        if self.ego_control not in NETWORK_EGO_CONTROLS:
            raise ValueError(
                f"ego_control {self.ego_control!r} is not one of {NETWORK_EGO_CONTROLS} on a road network"
            )
        if self.simulation_hz % self.policy_hz:
            raise ValueError("simulation_hz must be a multiple of policy_hz")
        if len(self.meta_target_speeds_mps) < 2:
            raise ValueError("meta_target_speeds_mps needs at least two speeds")


@dataclass
class NetworkState:
    """``B`` scenes on one road network; each field is ``(B, N)`` unless noted. Row 0 is the ego."""

    x_m: Tensor
    y_m: Tensor
    heading_rad: Tensor
    speed_mps: Tensor
    target_speed_mps: Tensor  # 0 for an ego under continuous control, as highway-env reads it
    lane: Tensor  # long: the closest lane (roads.closest_lane)
    target_lane: Tensor  # long
    delta: Tensor  # IDM exponent
    timer_s: Tensor
    crashed: Tensor  # bool
    impact_x_m: Tensor
    impact_y_m: Tensor
    has_impact: Tensor  # bool
    present: Tensor  # bool: a vehicle or object, not padding
    static: Tensor  # bool: a road object (an obstacle): never acts, never moves
    idm: Tensor  # bool: an IDMVehicle, which decides for itself
    controlled: Tensor  # bool: a ControlledVehicle (IDM vehicles, and the ego under meta control)
    lane_changes: Tensor  # bool: enable_lane_change
    length_m: Tensor
    width_m: Tensor
    route_road: Tensor  # (B, N, R) long: the route's roads, NONE after its end
    route_lane: Tensor  # (B, N, R) long: the lane id a route step names, NONE where it names none
    route_head: Tensor  # long: the index of the route's first step not yet dropped
    ego_steering_rad: Tensor  # (B,) the ego's held action under continuous control
    ego_acceleration_mps2: Tensor  # (B,)
    steps: Tensor  # (B,) long: policy steps taken

    def select(self, mask: Tensor, other: NetworkState) -> NetworkState:
        """Scenes where ``mask`` is true from ``other``, the rest from ``self`` (same shapes)."""
        return NetworkState(**select_rows(self, other, mask))


def from_highway_env(
    envs: list[Any],
    road: RoadTensors,
    *,
    rows: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> NetworkState:
    """Copy live highway-env scenes, one per batch entry, all on the network ``road`` describes.

    Every vehicle's position, heading, speed, lanes, route, IDM exponent, timer and collision state
    is copied, then the road's objects; ``rows`` pads every scene to that many rows (by default the
    largest scene's count).
    """
    scenes = [_scene_rows(env.unwrapped, road) for env in envs]
    count = rows or max(len(scene) for scene in scenes)
    if any(len(scene) > count for scene in scenes):
        raise ValueError(f"a scene has more than {count} vehicles and objects")
    route_length = max(1, max(len(row["route"]) for scene in scenes for row in scene))
    padding = _padding_row()
    table = [scene + [padding] * (count - len(scene)) for scene in scenes]

    def column(key: str, kind: torch.dtype) -> Tensor:
        values = [[row[key] for row in scene] for scene in table]
        return torch.tensor(np.array(values), device=device).to(kind)

    def route(part: int) -> Tensor:
        values = [
            [
                [step[part] for step in row["route"]]
                + [roads.NONE] * (route_length - len(row["route"]))
                for row in scene
            ]
            for scene in table
        ]
        return torch.tensor(values, device=device, dtype=torch.long)

    reals: tuple[str, ...] = ("x_m", "y_m", "heading_rad", "speed_mps", "target_speed_mps")
    reals += ("delta", "timer_s", "impact_x_m", "impact_y_m", "length_m", "width_m")
    longs = ("lane", "target_lane")
    flags = ("crashed", "has_impact", "present", "static", "idm", "controlled", "lane_changes")
    ego = [env.unwrapped.vehicle.action for env in envs]
    return NetworkState(
        **{key: column(key, dtype) for key in reals},
        **{key: column(key, torch.long) for key in longs},
        **{key: column(key, torch.bool) for key in flags},
        route_road=route(0),
        route_lane=route(1),
        route_head=torch.zeros(len(envs), count, dtype=torch.long, device=device),
        ego_steering_rad=torch.tensor(
            [float(action["steering"]) for action in ego], device=device, dtype=dtype
        ),
        ego_acceleration_mps2=torch.tensor(
            [float(action["acceleration"]) for action in ego], device=device, dtype=dtype
        ),
        steps=torch.tensor(
            [round(env.unwrapped.time * env.unwrapped.config["policy_frequency"]) for env in envs],
            device=device,
        ),
    )


def _scene_rows(env: Any, road: RoadTensors) -> list[dict[str, Any]]:
    from highway_env.vehicle.behavior import IDMVehicle
    from highway_env.vehicle.controller import ControlledVehicle
    from highway_env.vehicle.objects import Obstacle

    vehicles = env.road.vehicles
    if not vehicles or vehicles[0] is not env.vehicle:
        raise ValueError("expected the ego first among the road's vehicles")
    rows = []
    for vehicle in vehicles[1:]:
        if not isinstance(vehicle, IDMVehicle) or type(vehicle).__name__ not in ("IDMVehicle",):
            raise ValueError(
                f"the batched engine drives highway-env's IDMVehicle, not {type(vehicle).__name__}"
            )
    for obstacle in env.road.objects:
        if not isinstance(obstacle, Obstacle):
            raise ValueError(f"the batched engine knows obstacles, not {type(obstacle).__name__}")
    for item in [*vehicles, *env.road.objects]:
        is_static = item in env.road.objects
        impact: Any = getattr(item, "impact", None)
        has_impact = impact is not None and not is_static
        lane = road.index(item.lane_index)
        target = getattr(item, "target_lane_index", None)
        steps = [
            (road.road_number(origin, destination), roads.NONE if lane_id is None else lane_id)
            for origin, destination, lane_id in (getattr(item, "route", None) or [])
        ]
        rows.append(
            {
                "x_m": item.position[0],
                "y_m": item.position[1],
                "heading_rad": item.heading,
                "speed_mps": item.speed,
                "target_speed_mps": getattr(item, "target_speed", 0.0),
                "delta": getattr(item, "DELTA", IDM_DELTA),
                "timer_s": getattr(item, "timer", 0.0),
                "impact_x_m": impact[0] if has_impact else 0.0,
                "impact_y_m": impact[1] if has_impact else 0.0,
                "length_m": item.LENGTH,
                "width_m": item.WIDTH,
                "lane": lane,
                "target_lane": lane if target is None else road.index(target),
                "crashed": bool(item.crashed),
                "has_impact": has_impact,
                "present": True,
                "static": is_static,
                "idm": isinstance(item, IDMVehicle),
                "controlled": isinstance(item, ControlledVehicle),
                "lane_changes": bool(getattr(item, "enable_lane_change", False)),
                "route": steps,
            }
        )
    return rows


def _padding_row() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(
        ("x_m", "y_m", "heading_rad", "speed_mps", "target_speed_mps", "timer_s"), 0.0
    )
    row.update(
        {
            "delta": IDM_DELTA,
            "impact_x_m": 0.0,
            "impact_y_m": 0.0,
            "length_m": 0.0,
            "width_m": 0.0,
            "lane": 0,
            "target_lane": 0,
            "crashed": False,
            "has_impact": False,
            "present": False,
            "static": True,
            "idm": False,
            "controlled": False,
            "lane_changes": False,
            "route": [],
        }
    )
    # Padding rows sit far from every road, so that no search or collision ever finds them.
    row["x_m"] = row["y_m"] = 1e9
    return row
