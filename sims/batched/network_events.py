"""A scenario file's scripted event on the road-network engine: the stalled car and the braking lead
of :mod:`sims.events`, placed and driven as highway-env places and drives them there.

``place`` gives every scene one more row, the scripted vehicle's, after clearing the traffic as
``sims.events._spawn_ahead`` clears it (every other vehicle from beside the ego to 60 m past the new
one, in the ego's lane); ``scripted_acceleration_mps2`` then takes over that row's acceleration from
the event's moment, as ``sims.events.ScriptedVehicle`` does. One event per scenario, on highway-v0's
straight road, where the placement was checked against highway-env's
(``tests/sims/test_network_events.py``); anything else is refused by name (:func:`check_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from sims.batched import roads
from sims.batched.network import IDM_DELTA, NetworkState, keep_rows, write_idm_vehicle
from sims.batched.roads import LaneView, RoadTensors
from sims.constants import VEHICLE_LENGTH_M
from sims.events import (
    CLEARANCE_M,
    TRIGGER_TOLERANCE_S,
    CutIn,
    EventSpec,
    LeadBrake,
    StalledVehicle,
    braking_to_a_stop,
    cleared_for_event,
)
from sims.strict import ConfigError

EVENT_ROADS = ("highway-v0",)
"""The roads whose scenario files may script an event on the engine."""


@dataclass(frozen=True)
class Script:
    """What the scripted vehicle is made to do: brake at ``acceleration_mps2`` from ``trigger_s``,
    no further than a standstill (a stalled car: 0 m/s2 from the start, at 0 m/s)."""

    trigger_s: float  # [s] of the episode
    acceleration_mps2: float  # [m/s2]
    gap_m: float  # [m] from the ego's front bumper to the vehicle's rear, at the start
    initial_speed_mps: float | None  # [m/s] None: the ego's speed at the start

    @classmethod
    def of(cls, event: EventSpec) -> Script:
        """The script of a :mod:`sims.events` event the engine drives."""
        if isinstance(event, StalledVehicle):
            return cls(
                trigger_s=0.0, acceleration_mps2=0.0, gap_m=event.gap_m, initial_speed_mps=0.0
            )
        if isinstance(event, LeadBrake):
            return cls(
                trigger_s=event.trigger_s,
                acceleration_mps2=-event.decel_mps2,
                gap_m=event.gap_m,
                initial_speed_mps=None,
            )
        raise ConfigError(f"the batched engine does not script {type(event).__name__} events")


def check_events(events: Sequence[EventSpec], env_id: str, *, source: str) -> Script | None:
    """The script of a scenario's events on the engine, or None without events.

    :param source: where the events come from, for the message (a scenario file).
    :raises ConfigError: for what the engine cannot honour, naming it: more than one event, a cut-in
        (it needs a lane change on cue), or an event on a road other than :data:`EVENT_ROADS`.
    """
    if not events:
        return None
    if env_id not in EVENT_ROADS:
        raise ConfigError(
            f"{source}: the batched engine scripts events on {', '.join(EVENT_ROADS)} only, "
            f"not on {env_id}"
        )
    if len(events) > 1:
        raise ConfigError(
            f"{source}: the batched engine scripts one event a scenario, not {len(events)}"
        )
    if isinstance(events[0], CutIn):
        raise ConfigError(
            f"{source}: the batched engine does not script cut_in events; it scripts "
            "stalled_vehicle and lead_brake"
        )
    return Script.of(events[0])


def place(state: NetworkState, road: RoadTensors, script: Script) -> NetworkState:
    """``state`` with the scripted vehicle in a new last row of every scene, ``gap_m`` ahead of the
    ego in the ego's lane, after the traffic in that lane from beside the ego to
    :data:`~sims.events.CLEARANCE_M` past it is removed (``sims.events._spawn_ahead``)."""
    state = _with_one_more_row(state)
    count = state.x_m.shape[1]
    view = LaneView.of(road, state.lane[:, :1])
    ego_s, _ = roads.local_coordinates(view, state.x_m[:, :1], state.y_m[:, :1])
    station = ego_s + script.gap_m + VEHICLE_LENGTH_M
    along, across = roads.local_coordinates(view, state.x_m, state.y_m)
    rows = torch.arange(count, device=state.x_m.device)
    cleared = (
        (rows > 0)
        & ~state.static
        & cleared_for_event(
            along, across, view.width_m, ego_station_m=ego_s, until_m=station + CLEARANCE_M
        )
    )
    # The repeated last row is dropped too: keep_rows leaves it last, as padding, for the new car.
    state = keep_rows(state, state.present & ~cleared & (rows < count - 1))
    x, y = roads.position(view, station, torch.zeros_like(station))
    speed = (
        state.speed_mps[:, :1].clone()
        if script.initial_speed_mps is None
        else torch.full_like(station, script.initial_speed_mps)
    )
    heading = roads.heading_at(view, station)
    _write_last_row(state, road, x[:, 0], y[:, 0], heading[:, 0], speed[:, 0], state.lane[:, 0])
    return state


def scripted_acceleration_mps2(
    acceleration_mps2: Tensor, state: NetworkState, script: Script, time_s: Tensor, dt_s: float
) -> Tensor:
    """Every row's acceleration, the scripted row's taken over from ``trigger_s`` on (unless it
    crashed) and bounded so that it stops at 0 m/s, as ``ScriptedVehicle.act`` and ``step`` do.

    :param acceleration_mps2: ``(B, N)`` the accelerations the engine decided [m/s2].
    :param state: the scenes, the scripted vehicle in their last row (:func:`place`).
    :param script: what that vehicle is made to do.
    :param time_s: ``(B,)`` each scene's time into its episode [s].
    :param dt_s: the simulation step [s].
    """
    speed = state.speed_mps[:, -1]
    active = (
        (time_s >= script.trigger_s - TRIGGER_TOLERANCE_S)
        & ~state.crashed[:, -1]
        & state.present[:, -1]
    )
    scripted = braking_to_a_stop(torch.full_like(speed, script.acceleration_mps2), speed, dt_s)
    result = acceleration_mps2.clone()
    result[:, -1] = torch.where(active, scripted, acceleration_mps2[:, -1])
    return result


def _with_one_more_row(state: NetworkState) -> NetworkState:
    """``state`` with each scene's last row repeated at its end (``place`` makes it padding)."""
    count = state.x_m.shape[1]
    values = {}
    for field in fields(state):
        value = getattr(state, field.name)
        if value.dim() >= 2 and value.shape[1] == count:
            value = torch.cat([value, value[:, -1:]], dim=1)
        values[field.name] = value
    return NetworkState(**values)


def _write_last_row(
    state: NetworkState,
    road: RoadTensors,
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    target_lane: Tensor,
) -> None:
    """The scripted vehicle in the last row: an IDM vehicle that never changes lane, at
    ``speed_mps`` and aiming for it, with no route (``ScriptedVehicle(..., target_lane_index,
    target_speed)``); ``(B,)`` tensors, ``target_lane`` the lane it keeps to."""
    lane = roads.closest_lane(road, x_m[:, None], y_m[:, None], heading_rad[:, None])[:, 0]
    state.route_road[:, -1] = roads.NONE
    state.route_lane[:, -1] = roads.NONE
    write_idm_vehicle(
        state,
        (slice(None), -1),
        x_m=x_m,
        y_m=y_m,
        heading_rad=heading_rad,
        speed_mps=speed_mps,
        lane=lane,
        target_lane=target_lane,
        delta=torch.full_like(x_m, IDM_DELTA),  # no randomize_behavior
        lane_changes=False,
    )
