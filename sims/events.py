"""Scripted events that make a highway scenario test something: a cut-in, a hard-braking lead, a stall.

Each event is a frozen spec read from the scenario file. ``spec.start(road, ego)`` places its vehicle
right after the environment's reset and returns an :class:`ActiveEvent` that the simulator updates
before every simulation step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from highway_env.road.road import Road
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.kinematics import Vehicle

from sims.arrays import at_least

EVENT_COLOUR = (255, 140, 0)
"""Scripted vehicles are drawn orange in the video, so a viewer sees which vehicle is the test."""

CLEARANCE_M = 60.0  # [m] traffic is cleared this far past a scripted vehicle, so it keeps its speed
TRIGGER_TOLERANCE_S = 1e-9  # [s] a script starts at its time despite rounding in the clock


def braking_to_a_stop(acceleration_mps2: Any, speed_mps: Any, dt_s: float) -> Any:
    """``acceleration_mps2``, but braking no further than a standstill within the step [m/s2]:
    highway-env lets speeds go negative otherwise. Floats here, ``(B,)`` tensors on the engine
    (:func:`sims.batched.network_events.scripted_acceleration_mps2`)."""
    return at_least(acceleration_mps2, -speed_mps / dt_s)


def cleared_for_event(
    along_m: Any, across_m: Any, width_m: Any, *, ego_station_m: Any, until_m: Any
) -> Any:
    """Whether a vehicle at lane coordinates (``along_m``, ``across_m``) is in the stretch that an
    event clears: within the lane's full width of its centre, as highway-env tests lane membership,
    from beside the ego (``ego_station_m``, less a vehicle length) to ``until_m``. Floats here,
    tensors on the engine (:func:`sims.batched.network_events.place`)."""
    return (
        (abs(across_m) < width_m) & (along_m > ego_station_m - Vehicle.LENGTH) & (along_m < until_m)
    )


class ScriptedVehicle(IDMVehicle):
    """An IDM vehicle whose acceleration a script can take over, braking no further than a stop."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.scripted_acceleration_mps2: float | None = None
        self.color = EVENT_COLOUR

    def act(self, action: dict | str | None = None) -> None:
        super().act(action)
        if self.scripted_acceleration_mps2 is not None and not self.crashed:
            self.action["acceleration"] = self.scripted_acceleration_mps2

    def step(self, dt: float) -> None:
        if self.scripted_acceleration_mps2 is not None and not self.crashed:
            self.action["acceleration"] = braking_to_a_stop(
                self.action["acceleration"], self.speed, dt
            )
        super().step(dt)


class ActiveEvent(ABC):
    """A running event: it changes the scripted vehicle's behaviour when its moment comes."""

    @abstractmethod
    def update(self, time_s: float) -> None:
        """Apply the script at simulation time ``time_s`` [s]; called before every simulation step."""


@dataclass(frozen=True)
class CutIn:
    """A slightly slower car in the next lane cuts into the ego's lane once the ego closes to ``gap_m``.

    Triggering on the gap, not on time, keeps the test the same whatever speed the ego chose before.
    """

    gap_m: float = 12.0  # [m] bumper-to-bumper gap ahead of the ego at which it cuts in
    spawn_gap_m: float = 40.0  # [m] its gap ahead of the ego at the start
    relative_speed_mps: float = -3.0  # [m/s] its speed minus the ego's initial speed
    side: Literal["left", "right"] = "left"

    def __post_init__(self) -> None:
        _check_positive(gap_m=self.gap_m, spawn_gap_m=self.spawn_gap_m)
        if self.spawn_gap_m < self.gap_m:
            raise ValueError(f"spawn_gap_m ({self.spawn_gap_m}) must be >= gap_m ({self.gap_m})")

    def start(self, road: Road, ego: Vehicle) -> ActiveEvent:
        lane_offset = -1 if self.side == "left" else 1
        lane_index = _side_lane(road, ego, lane_offset)
        if lane_index is None:
            raise ValueError(
                f"cut_in: the ego's lane {ego.lane_index} has no {self.side} neighbour"
            )
        speed = ego.speed + self.relative_speed_mps
        vehicle = _spawn_ahead(road, ego, lane_index, self.spawn_gap_m, speed)
        vehicle.enable_lane_change = False
        return _CutInRun(vehicle, ego, self.gap_m)


@dataclass(frozen=True)
class LeadBrake:
    """The vehicle ahead in the ego's lane brakes at ``decel_mps2`` from ``trigger_s`` to a stop."""

    trigger_s: float = 4.0  # [s]
    gap_m: float = 30.0  # [m]
    decel_mps2: float = 6.0  # [m/s2]

    def __post_init__(self) -> None:
        _check_positive(gap_m=self.gap_m, decel_mps2=self.decel_mps2)
        _check_non_negative(trigger_s=self.trigger_s)

    def start(self, road: Road, ego: Vehicle) -> ActiveEvent:
        vehicle = _spawn_ahead(road, ego, ego.lane_index, self.gap_m, ego.speed)
        vehicle.enable_lane_change = False
        return _BrakeRun(vehicle, self.trigger_s, -self.decel_mps2)


@dataclass(frozen=True)
class StalledVehicle:
    """A vehicle stands still in the ego's lane ``gap_m`` ahead from the start."""

    gap_m: float = 120.0  # [m]

    def __post_init__(self) -> None:
        _check_positive(gap_m=self.gap_m)

    def start(self, road: Road, ego: Vehicle) -> ActiveEvent:
        vehicle = _spawn_ahead(road, ego, ego.lane_index, self.gap_m, 0.0)
        vehicle.enable_lane_change = False
        vehicle.target_speed = 0.0
        vehicle.scripted_acceleration_mps2 = 0.0
        return _BrakeRun(vehicle, 0.0, 0.0)


EventSpec = CutIn | LeadBrake | StalledVehicle

EVENTS: dict[str, type[CutIn] | type[LeadBrake] | type[StalledVehicle]] = {
    "cut_in": CutIn,
    "lead_brake": LeadBrake,
    "stalled_vehicle": StalledVehicle,
}


class _CutInRun(ActiveEvent):
    def __init__(self, vehicle: ScriptedVehicle, ego: Vehicle, gap_m: float) -> None:
        self.vehicle, self.ego, self.gap_m = vehicle, ego, gap_m
        self.done = False

    def update(self, time_s: float) -> None:
        if self.done:
            return
        lane = self.vehicle.lane
        ahead_m = (
            lane.local_coordinates(self.vehicle.position)[0]
            - lane.local_coordinates(self.ego.position)[0]
        )
        if ahead_m - Vehicle.LENGTH <= self.gap_m:
            self.vehicle.target_lane_index = self.ego.lane_index
            self.done = True


class _BrakeRun(ActiveEvent):
    def __init__(
        self, vehicle: ScriptedVehicle, trigger_s: float, acceleration_mps2: float
    ) -> None:
        self.vehicle, self.trigger_s, self.acceleration_mps2 = vehicle, trigger_s, acceleration_mps2

    def update(self, time_s: float) -> None:
        if time_s >= self.trigger_s - TRIGGER_TOLERANCE_S:
            self.vehicle.scripted_acceleration_mps2 = self.acceleration_mps2


def _side_lane(road: Road, ego: Vehicle, offset: int) -> tuple[str, str, int] | None:
    start, end, index = ego.lane_index
    if 0 <= index + offset < len(road.network.graph[start][end]):
        return (start, end, index + offset)
    return None


def _spawn_ahead(
    road: Road, ego: Vehicle, lane_index: tuple[str, str, int], gap_m: float, speed_mps: float
) -> ScriptedVehicle:
    """Place a scripted vehicle ``gap_m`` ahead of the ego's front bumper in ``lane_index``.

    Traffic is cleared from the ego's lane and the vehicle's lane between the ego and
    :data:`CLEARANCE_M` past the vehicle, so the scripted vehicle is what the ego meets first.
    """
    lane = road.network.get_lane(lane_index)
    ego_s, _ = lane.local_coordinates(ego.position)
    s = ego_s + gap_m + Vehicle.LENGTH
    _clear(road, ego, {lane_index, ego.lane_index}, until_m=s + CLEARANCE_M)
    vehicle = ScriptedVehicle(
        road,
        lane.position(s, 0.0),
        heading=lane.heading_at(s),
        speed=max(speed_mps, 0.0),
        target_lane_index=lane_index,
        target_speed=max(speed_mps, 0.0),
    )
    road.vehicles.append(vehicle)
    return vehicle


def _clear(road: Road, ego: Vehicle, lane_indices: set, *, until_m: float) -> None:
    """Remove other vehicles in ``lane_indices`` from beside the ego to ``until_m`` along each lane."""
    for lane_index in lane_indices:
        lane = road.network.get_lane(lane_index)
        ego_s, _ = lane.local_coordinates(ego.position)
        for other in list(road.vehicles):
            if other is ego:
                continue
            other_s, other_d = lane.local_coordinates(other.position)
            if cleared_for_event(
                other_s, other_d, lane.width_at(other_s), ego_station_m=ego_s, until_m=until_m
            ):
                road.vehicles.remove(other)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
