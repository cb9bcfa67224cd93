"""The batched engine's configuration and state, and where states come from.

A state holds ``B`` environments of ``N = 1 + vehicles`` vehicles as ``(B, N)`` tensors; vehicle 0
of every environment is the ego. States come from :func:`spawn`, which draws highway-v0's initial
scenes with the same distributions as highway-env (``HighwayEnv._create_vehicles``), or from
:func:`from_highway_env`, which copies a live highway-env scene exactly, for the fidelity checks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from sims.batched.neighbours import LANE_WIDTH_M, MAX_VEHICLES, station_order
from sims.batched.physics import TIME_WANTED_S, EgoFollowing, engine_car_following

# continuous: highway-env's ContinuousAction; meta: its DiscreteMetaAction controller; follow: the ego
# drives as an IDM vehicle towards a target lane and speed set from outside (no MOBIL, no aborts),
# as the stack's PolicyExecutor does (planning.rl.batched).
EgoControl = Literal["continuous", "meta", "follow"]
EGO_CONTROLS: tuple[EgoControl, ...] = ("continuous", "meta", "follow")
FOLLOW_DELTA = 4.0  # the IDM exponent of a following ego: sims.idm.IdmParameters.exponent
META_TARGET_SPEEDS_MPS = (20.0, 25.0, 30.0)  # highway-env's MDPVehicle.DEFAULT_TARGET_SPEEDS
EGO_INITIAL_SPEED_MPS = 25.0  # [m/s] HighwayEnv._create_vehicles
DELTA_RANGE = (3.5, 4.5)  # IDMVehicle.DELTA_RANGE, drawn by randomize_behavior


class Clock:
    """The episode's clock, for a configuration with ``simulation_hz``, ``policy_hz`` and
    ``duration_s`` (both engines' configurations)."""

    simulation_hz: int
    policy_hz: int
    duration_s: float

    @property
    def dt_s(self) -> float:
        """One simulation step [s]."""
        return 1.0 / self.simulation_hz

    @property
    def frames(self) -> int:
        """Simulation steps per policy step."""
        return self.simulation_hz // self.policy_hz

    @property
    def max_steps(self) -> int:
        """Policy steps before the episode is truncated."""
        return math.ceil(self.duration_s * self.policy_hz - 1e-9)


def select_rows(mine: Any, other: Any, mask: Tensor) -> dict[str, Any]:
    """The fields of two states of the same dataclass, scene by scene: ``other``'s where ``mask``
    is true, ``mine``'s elsewhere."""
    values: dict[str, Any] = {}
    for field in fields(mine):
        ours, theirs = getattr(mine, field.name), getattr(other, field.name)
        shaped = mask.view(-1, *([1] * (ours.dim() - 1)))
        values[field.name] = torch.where(shaped, theirs, ours)
    return values


@dataclass(frozen=True)
class BatchConfig(Clock):
    """highway-v0's configuration (highway-env's defaults), as far as the engine needs it."""

    lanes: int = 4
    vehicles: int = 50
    duration_s: float = 40.0
    simulation_hz: int = 15
    policy_hz: int = 1
    ego_spacing: float = 2.0
    vehicles_density: float = 1.0
    speed_limit_mps: float = 30.0
    ego_control: EgoControl = "continuous"
    observed_vehicles: int = 5  # KinematicObservation's vehicles_count, ego included
    collision_reward: float = -1.0
    right_lane_reward: float = 0.1
    high_speed_reward: float = 0.4
    reward_speed_range_mps: tuple[float, float] = (20.0, 30.0)
    # Collision candidates: each vehicle is tested against the next ``collision_window`` vehicles in
    # station order (all pairs when 0). A window that may miss a pair is counted, never hidden.
    collision_window: int = 8
    # The ego's IDM time gap under ``ego_control="follow"`` (the planning executor's); the traffic
    # keeps highway-env's TIME_WANTED. It applies to the ego's own acceleration; a vehicle's MOBIL
    # predicts how the ego, as its new follower, would brake with its own constants, as highway-env
    # predicts with the asking vehicle's.
    ego_time_gap_s: float = TIME_WANTED_S
    # The following ego's car-following model, as ego_time_gap_s applies: highway-env's IDM, or IDM+
    # (sims.idm.idm_plus_acceleration), where the smaller of the two IDM terms wins.
    ego_car_following: Literal["idm", "idm_plus"] = "idm"

    def __post_init__(self) -> None:
        if self.lanes < 1 or self.vehicles < 1:
            raise ValueError(
                f"lanes and vehicles must be positive, got {self.lanes}, {self.vehicles}"
            )
        if self.ego_control not in EGO_CONTROLS:
            raise ValueError(f"ego_control {self.ego_control!r} is not one of {EGO_CONTROLS}")
        if self.simulation_hz % self.policy_hz:
            raise ValueError("simulation_hz must be a multiple of policy_hz")
        if 1 + self.vehicles > MAX_VEHICLES:
            raise ValueError(
                f"at most {MAX_VEHICLES - 1} vehicles besides the ego (the lane masks of "
                f"sims.batched.neighbours are 64-bit words), got {self.vehicles}"
            )
        engine_car_following(self.ego_car_following)
        if self.ego_time_gap_s <= 0:
            raise ValueError(f"ego_time_gap_s must be positive, got {self.ego_time_gap_s}")
        if self.collision_window < 0:
            raise ValueError(f"collision_window must be >= 0, got {self.collision_window}")

    @functools.cached_property
    def ego_following(self) -> EgoFollowing:
        """``ego_time_gap_s`` and ``ego_car_following`` as both engines' IDM takes them (made once,
        not at every step)."""
        return EgoFollowing(self.ego_time_gap_s, self.ego_car_following)


@dataclass
class BatchState:
    """``B`` highway scenes as tensors; each field is ``(B, N)`` unless noted. Vehicle 0 is the ego."""

    x_m: Tensor
    y_m: Tensor
    heading_rad: Tensor
    speed_mps: Tensor
    target_speed_mps: Tensor  # the ego's is 0 under continuous control, as highway-env reads it
    target_lane: Tensor  # long
    lane: Tensor  # long: the closest lane
    delta: Tensor  # IDM exponent
    timer_s: Tensor  # time since the last lane-change decision
    crashed: Tensor  # bool
    impact_x_m: Tensor  # displacement applied at the next step after a predicted collision
    impact_y_m: Tensor
    has_impact: Tensor  # bool
    ego_steering_rad: Tensor  # (B,) the ego's held action under continuous control
    ego_acceleration_mps2: Tensor  # (B,)
    steps: Tensor  # (B,) long: policy steps taken in the episode
    order: Tensor  # long: the vehicles sorted by station (neighbours.station_order of ``x_m``)

    def select(self, mask: Tensor, other: BatchState) -> BatchState:
        """Environments where ``mask`` is true from ``other``, the rest from ``self``."""
        return BatchState(**select_rows(self, other, mask))


def closest_lane(y_m: Tensor, lanes: int) -> Tensor:
    """``RoadNetwork.get_closest_lane_index`` on the straight road; ties go to the lower index."""
    return torch.clamp(torch.ceil((y_m - LANE_WIDTH_M / 2) / LANE_WIDTH_M), 0, lanes - 1).long()


def initial_timer_s(x_m: Tensor, y_m: Tensor) -> Tensor:
    """``IDMVehicle.__init__``: the lane-change timer starts at a pseudo-random phase."""
    return torch.remainder((x_m + y_m) * math.pi, 1.0)


def random_stations_m(
    speeds_mps: Tensor,
    ego_factor: Tensor,
    factors: Tensor,
    *,
    lanes: int,
    ego_spacing: float,
    vehicles_density: float,
    ego_speed_mps: float = EGO_INITIAL_SPEED_MPS,
) -> Tensor:
    """``Vehicle.create_random``'s stations on a straight road of ``lanes`` lanes: the ego first,
    then each vehicle ahead of the one before by its speed-dependent spacing (``12 + speed`` metres,
    shrunk by the lane count) times a factor drawn in [0.9, 1.1]. Shared by the straight-road engine
    and the road-network engine's highway-v0 and exit-v0 draws.

    :param speeds_mps: ``(B, N)`` the vehicles' initial speeds [m/s].
    :param ego_factor: ``(B, 1)`` the ego's factor; ``factors``: ``(B, N)`` the vehicles'.
    :param ego_spacing: ``ego_spacing`` of highway-env's configuration; ``vehicles_density`` its
        density (the vehicles' spacing is its inverse).
    :return: ``(B, 1 + N)`` longitudinal positions [m].
    """
    shrink = math.exp(-5 / 40 * lanes)
    ego_offset = ego_spacing * (12 + ego_speed_mps) * shrink
    ego_x = 3 * ego_offset + ego_offset * ego_factor
    spacing = (1 / vehicles_density) * (12 + speeds_mps) * shrink * factors
    return torch.cat([ego_x, ego_x + torch.cumsum(spacing, dim=1)], dim=1)


def spawn(
    config: BatchConfig,
    batch: int,
    *,
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype,
) -> BatchState:
    """Draw ``batch`` initial scenes as ``HighwayEnv._create_vehicles`` does.

    The ego starts at 25 m/s in a random lane; every other vehicle starts in a random lane at a speed
    drawn in [0.7, 0.8] times the speed limit, placed ahead of the previous one by a random fraction of
    its speed-dependent spacing (``Vehicle.create_random``), with a random IDM exponent.
    """

    def uniform(low: float, high: float, *shape: int) -> Tensor:
        draw = torch.rand(*shape, generator=generator, device=device, dtype=dtype)
        return low + (high - low) * draw

    count = config.vehicles
    lanes = torch.randint(config.lanes, (batch, 1 + count), generator=generator, device=device)
    ego_factor = uniform(0.9, 1.1, batch, 1)
    speeds = uniform(0.7 * config.speed_limit_mps, 0.8 * config.speed_limit_mps, batch, count)
    x_m = random_stations_m(
        speeds,
        ego_factor,
        uniform(0.9, 1.1, batch, count),
        lanes=config.lanes,
        ego_spacing=config.ego_spacing,
        vehicles_density=config.vehicles_density,
    )
    y_m = lanes.to(dtype) * LANE_WIDTH_M
    ego_speed = torch.full((batch, 1), EGO_INITIAL_SPEED_MPS, device=device, dtype=dtype)
    speed = torch.cat([ego_speed, speeds], dim=1)
    target_speed = speed.clone()
    if config.ego_control == "continuous":
        target_speed[:, 0] = 0.0
    delta = uniform(*DELTA_RANGE, batch, 1 + count)
    if config.ego_control == "follow":
        delta[:, 0] = FOLLOW_DELTA
    zeros = torch.zeros_like(x_m)
    return BatchState(
        x_m=x_m,
        y_m=y_m,
        heading_rad=zeros.clone(),
        speed_mps=speed,
        target_speed_mps=target_speed,
        target_lane=lanes.clone(),
        lane=lanes,
        delta=delta,
        timer_s=initial_timer_s(x_m, y_m),
        crashed=torch.zeros_like(x_m, dtype=torch.bool),
        impact_x_m=zeros.clone(),
        impact_y_m=zeros.clone(),
        has_impact=torch.zeros_like(x_m, dtype=torch.bool),
        ego_steering_rad=zeros[:, 0].clone(),
        ego_acceleration_mps2=zeros[:, 0].clone(),
        steps=torch.zeros(batch, dtype=torch.long, device=device),
        order=station_order(x_m),
    )


def from_highway_env(
    envs: list[Any], config: BatchConfig, *, device: torch.device, dtype: torch.dtype
) -> BatchState:
    """Copy the scenes of live highway-env environments (``highway-v0``), one per batch entry.

    Every vehicle's position, heading, speed, targets, IDM exponent, timer and collision state is
    copied, so that both simulators can be stepped from the same state.
    """
    rows = np.array([_vehicle_rows(env.unwrapped, config) for env in envs])
    steps = np.array([env.unwrapped.time for env in envs])
    return from_rows(rows, steps, device=device, dtype=dtype)


def from_rows(
    rows: np.ndarray, steps: np.ndarray, *, device: torch.device, dtype: torch.dtype
) -> BatchState:
    """A state from recorded vehicle rows ``(B, N, 15)``, as :func:`from_highway_env` reads them
    (position, heading, speed, targets, lane, IDM exponent, timer, collision, the ego's action), and
    each scene's step count ``(B,)``."""
    table = torch.tensor(np.asarray(rows), device=device, dtype=torch.float64)

    def column(index: int) -> Tensor:
        return table[..., index].to(dtype)

    return BatchState(
        x_m=column(0),
        y_m=column(1),
        heading_rad=column(2),
        speed_mps=column(3),
        target_speed_mps=column(4),
        target_lane=table[..., 5].long(),
        lane=table[..., 6].long(),
        delta=column(7),
        timer_s=column(8),
        crashed=table[..., 9] > 0,
        impact_x_m=column(10),
        impact_y_m=column(11),
        has_impact=table[..., 12] > 0,
        ego_steering_rad=column(13)[:, 0],
        ego_acceleration_mps2=column(14)[:, 0],
        steps=torch.tensor(np.asarray(steps), device=device).long(),
        order=station_order(column(0)),
    )


def _vehicle_rows(env: Any, config: BatchConfig) -> list[list[float]]:
    vehicles = env.road.vehicles
    if len(vehicles) != 1 + config.vehicles or vehicles[0] is not env.vehicle:
        raise ValueError(
            f"expected the ego followed by {config.vehicles} vehicles, got {len(vehicles)} vehicles"
        )
    rows = []
    for vehicle in vehicles:
        impact = vehicle.impact
        rows.append(
            [
                vehicle.position[0],
                vehicle.position[1],
                vehicle.heading,
                vehicle.speed,
                getattr(vehicle, "target_speed", 0.0),
                getattr(vehicle, "target_lane_index", vehicle.lane_index)[2],
                vehicle.lane_index[2],
                getattr(vehicle, "DELTA", 4.0),
                getattr(vehicle, "timer", 0.0),
                float(vehicle.crashed),
                0.0 if impact is None else impact[0],
                0.0 if impact is None else impact[1],
                float(impact is not None),
                float(vehicle.action["steering"]),
                float(vehicle.action["acceleration"]),
            ]
        )
    return rows
