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

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.physics import HIGHWAY_ENV_IDM, TRAFFIC_FOLLOWING, EgoFollowing, IdmConstants
from sims.batched.roads import RoadTensors
from sims.batched.state import Clock, select_rows
from sims.constants import VEHICLE_LENGTH_M, VEHICLE_WIDTH_M

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
    # The meta-actions by index: highway-env's five, or its longitudinal three on some roads.
    meta_actions: tuple[str, ...] = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")
    idm: IdmConstants = HIGHWAY_ENV_IDM  # the traffic's IDM constants
    regulated: bool = False  # a junction whose traffic yields by priority (intersection-v0)
    # How the ego drives behind its leader under ego_control "follow" (the planning executor's time
    # gap and model); the traffic's IDM by default.
    ego_following: EgoFollowing = TRAFFIC_FOLLOWING

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
    yielding: Tensor  # bool: stopped by the junction's regulation (RegulatedRoad)
    yield_timer: Tensor  # long: regulation checks since it was stopped
    ego_steering_rad: Tensor  # (B,) the ego's held action under continuous control
    ego_acceleration_mps2: Tensor  # (B,)
    steps: Tensor  # (B,) long: policy steps taken
    road_steps: Tensor  # (B,) long: simulation steps of the road (RegulatedRoad.steps)

    def select(self, mask: Tensor, other: NetworkState) -> NetworkState:
        """Scenes where ``mask`` is true from ``other``, the rest from ``self`` (same shapes)."""
        return NetworkState(**select_rows(self, other, mask))

    def scenes(self, index: Tensor | slice) -> NetworkState:
        """The scenes ``index`` names, as a smaller batch: copies for a long tensor, views of
        these tensors for a slice."""
        return NetworkState(**{item.name: getattr(self, item.name)[index] for item in fields(self)})

    def then(self, other: NetworkState) -> NetworkState:
        """These scenes followed by ``other``'s, as one batch (copies; same rows and route steps)."""
        return NetworkState(
            **{
                item.name: torch.cat([getattr(self, item.name), getattr(other, item.name)])
                for item in fields(self)
            }
        )


def from_highway_env(
    envs: list[Any],
    road: RoadTensors,
    *,
    rows: int | None = None,
    route_steps: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> NetworkState:
    """Copy live highway-env scenes, one per batch entry, all on the network ``road`` describes.

    Every vehicle's position, heading, speed, lanes, route, IDM exponent, timer, yielding and
    collision state is copied, then the road's objects; ``rows`` pads every scene to that many rows
    and ``route_steps`` every route to that many steps (by default, the largest found).
    """
    scenes = [_scene_rows(env.unwrapped, road) for env in envs]
    count = rows or max(len(scene) for scene in scenes)
    if any(len(scene) > count for scene in scenes):
        raise ValueError(f"a scene has more than {count} vehicles and objects")
    route_length = route_steps or max(
        1, max(len(row["route"]) for scene in scenes for row in scene)
    )
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
    longs = ("lane", "target_lane", "yield_timer")
    flags: tuple[str, ...] = ("crashed", "has_impact", "present", "static", "idm", "controlled")
    flags += ("lane_changes", "yielding")
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
        road_steps=torch.tensor(
            [int(getattr(env.unwrapped.road, "steps", 0)) for env in envs], device=device
        ),
    )


def _scene_rows(env: Any, road: RoadTensors) -> list[dict[str, Any]]:
    from highway_env.vehicle.objects import Obstacle

    vehicles = env.road.vehicles
    if not vehicles or vehicles[0] is not env.vehicle:
        raise ValueError("expected the ego first among the road's vehicles")
    rows = []
    for vehicle in vehicles[1:]:
        _check_traffic(vehicle)
    for obstacle in env.road.objects:
        if not isinstance(obstacle, Obstacle):
            raise ValueError(f"the batched engine knows obstacles, not {type(obstacle).__name__}")
    for item in [*vehicles, *env.road.objects]:
        rows.append(_item_row(item, road, is_static=item in env.road.objects))
    return rows


def _check_traffic(vehicle: Any) -> None:
    """The engine's traffic is highway-env's IDMVehicle (a ControlledVehicle), whatever else its
    rules assume (the junction's path predictions, :mod:`sims.batched.regulation`)."""
    from highway_env.vehicle.behavior import IDMVehicle

    if not isinstance(vehicle, IDMVehicle) or type(vehicle).__name__ != "IDMVehicle":
        raise ValueError(
            f"the batched engine drives highway-env's IDMVehicle, not {type(vehicle).__name__}"
        )


def _item_row(item: Any, road: RoadTensors, *, is_static: bool) -> dict[str, Any]:
    """One vehicle's or object's row, as :func:`from_highway_env` copies it."""
    from highway_env.vehicle.behavior import IDMVehicle
    from highway_env.vehicle.controller import ControlledVehicle

    impact: Any = getattr(item, "impact", None)
    has_impact = impact is not None and not is_static
    lane = road.index(item.lane_index)
    target = getattr(item, "target_lane_index", None)
    steps = [
        (road.road_number(origin, destination), roads.NONE if lane_id is None else lane_id)
        for origin, destination, lane_id in (getattr(item, "route", None) or [])
    ]
    return {
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
        "yielding": bool(getattr(item, "is_yielding", False)),
        "yield_timer": int(getattr(item, "yield_timer", 0)),
        "route": steps,
    }


def keep_rows(state: NetworkState, keep: Tensor) -> NetworkState:
    """The scenes with only the rows ``keep`` (``(B, N)`` bool), moved up in their order; the rows
    freed at the end become padding (highway-env removing vehicles from its list)."""
    order = torch.argsort((~keep).int(), dim=1, stable=True)
    moved = reorder_rows(state, order)
    kept = keep.gather(1, order)
    moved.present = moved.present & kept
    moved.static = moved.static | ~kept
    moved.x_m = torch.where(kept, moved.x_m, 1e9)  # far from every road, as padding is
    moved.y_m = torch.where(kept, moved.y_m, 1e9)
    return moved


def reorder_rows(state: NetworkState, order: Tensor) -> NetworkState:
    """Every per-row field of ``state`` taken in ``order`` ``(B, N)``, scene by scene."""
    values: dict[str, Any] = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value.dim() >= 2 and value.shape[1] == order.shape[1]:
            index = order.view(*order.shape, *([1] * (value.dim() - 2))).expand_as(value)
            value = value.gather(1, index)
        values[field.name] = value
    return NetworkState(**values)


def write_idm_vehicle(
    state: NetworkState,
    where: tuple[Any, Any],
    *,
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    lane: Tensor,
    target_lane: Tensor,
    delta: Tensor,
    lane_changes: bool,
) -> None:
    """A new highway-env ``IDMVehicle`` at ``where`` (scenes, rows) of ``state``, aiming for
    ``speed_mps``, its lane-change timer at ``IDMVehicle.__init__``'s pseudo-random phase; its
    route is left as it is. Updates ``state`` in place.

    :param where: an index of ``(B, N)`` tensors: (scenes, rows).
    :param x_m: the vehicles' positions, headings [rad] and speeds [m/s], one per place.
    :param lane: their closest lanes; ``target_lane`` the lanes they aim for.
    :param delta: their IDM exponents.
    :param lane_changes: whether they may change lane (``enable_lane_change``).
    """
    values = {
        "x_m": x_m,
        "y_m": y_m,
        "heading_rad": heading_rad,
        "speed_mps": speed_mps,
        "target_speed_mps": speed_mps,
        "lane": lane,
        "target_lane": target_lane,
        "delta": delta,
        "timer_s": torch.remainder((x_m + y_m) * math.pi, 1.0),
        "length_m": torch.full_like(x_m, VEHICLE_LENGTH_M),
        "width_m": torch.full_like(x_m, VEHICLE_WIDTH_M),
        "impact_x_m": torch.zeros_like(x_m),
        "impact_y_m": torch.zeros_like(x_m),
        "route_head": torch.zeros_like(lane),
        "yield_timer": torch.zeros_like(lane),
    }
    for name, value in values.items():
        getattr(state, name)[where] = value.to(getattr(state, name).dtype)
    for name, flag in (
        ("crashed", False),
        ("has_impact", False),
        ("present", True),
        ("static", False),
        ("idm", True),
        ("controlled", True),
        ("lane_changes", lane_changes),
        ("yielding", False),
    ):
        getattr(state, name)[where] = flag


def copy_vehicle(state: NetworkState, scene: int, row: int, item: Any, road: RoadTensors) -> None:
    """Write highway-env vehicle ``item`` into ``row`` of ``scene`` (a vehicle highway-env added
    during the episode, for the fidelity checks). Updates ``state`` in place."""
    _check_traffic(item)
    values = _item_row(item, road, is_static=False)
    steps = values.pop("route")
    if len(steps) > state.route_road.shape[-1]:
        raise ValueError(f"a route of {len(steps)} steps does not fit {state.route_road.shape[-1]}")
    for name, value in values.items():
        getattr(state, name)[scene, row] = value
    padded = steps + [(roads.NONE, roads.NONE)] * (state.route_road.shape[-1] - len(steps))
    state.route_road[scene, row] = torch.tensor([step[0] for step in padded])
    state.route_lane[scene, row] = torch.tensor([step[1] for step in padded])
    state.route_head[scene, row] = 0
    state.yielding[scene, row] = bool(getattr(item, "is_yielding", False))


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
            "yielding": False,
            "yield_timer": 0,
            "route": [],
        }
    )
    # Padding rows sit far from every road, so that no search or collision ever finds them.
    row["x_m"] = row["y_m"] = 1e9
    return row
