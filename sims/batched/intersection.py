"""intersection-v0's traffic on the batched engine: vehicles that arrive during the episode and leave
at its end, and the initial scene (``IntersectionEnv._make_vehicles``, ``_spawn_vehicle``,
``_clear_vehicles``), drawn with highway-env's distributions from a seeded ``torch.Generator``.

A scene has a fixed number of rows: vehicles take the first free row when they arrive, and the rows
of those that leave are freed and the rest moved up, in order (:func:`sims.batched.network.keep_rows`).
Row 0 is the ego, as everywhere in the engine; highway-env adds its ego last, so the order of the
list differs from highway-env's, which only the order of simultaneous collisions could show.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sims.batched import network_step, roads
from sims.batched.ego import meta_target_speed_mps
from sims.batched.network import NetworkState, keep_rows, reorder_rows, write_idm_vehicle
from sims.batched.network_spawn import Placement, Spawner
from sims.batched.roads import LaneView
from sims.batched.state import DELTA_RANGE
from sims.constants import VEHICLE_LENGTH_M

ROWS = 16  # vehicles a scene holds at most (highway-env's scenes hold about five to twelve)
DESTINATIONS = ("o0", "o1", "o2", "o3")
SPAWN_CLEARANCE_M = 15.0  # a new vehicle is not placed within this of another
EGO_CLEARANCE_M = 20.0  # nor left within this of the ego when it is placed
WARM_UP_S = 3.0  # the traffic runs this long before the ego is placed
LEAVING_MARGIN_M = 4 * VEHICLE_LENGTH_M  # vehicles leave this far before their exit lane ends
ARRIVAL_DISTANCE_M = 25.0  # IntersectionEnv.has_arrived's exit_distance


def approach_lanes(road: roads.RoadTensors, device: torch.device) -> Tensor:
    """The lane from outer node ``o{i}`` into the junction ``ir{i}``, for each of the four arms."""
    lanes = [road.index((f"o{arm}", f"ir{arm}", 0)) for arm in range(4)]
    return torch.tensor(lanes, device=device)


def exit_lanes(road: roads.RoadTensors, device: torch.device) -> Tensor:
    """``(L,)`` whether each lane leaves the junction (from an ``il`` node to an ``o`` node)."""
    leaving = [origin.startswith("il") and end.startswith("o") for origin, end, _ in road.names]
    return torch.tensor(leaving, device=device)


def spawn_vehicle(
    state: NetworkState,
    spawner: Spawner,
    generator: torch.Generator,
    *,
    longitudinal_m: float = 0.0,
    position_deviation_m: float = 1.0,
    speed_deviation_mps: float = 1.0,
    probability: float = 0.6,
    go_straight: bool = False,
) -> None:
    """``IntersectionEnv._spawn_vehicle`` in every scene: with ``probability``, a vehicle enters
    from a random arm towards another (straight across with ``go_straight``), near the start of
    its approach lane, unless another vehicle is within 15 m. Updates ``state`` in place."""
    road, like = spawner.road, state.x_m
    batch, device = like.shape[0], like.device
    draw = torch.rand(batch, generator=generator, device=device, dtype=like.dtype)
    start = torch.randint(4, (batch,), generator=generator, device=device)
    turn = torch.randint(1, 4, (batch,), generator=generator, device=device)
    end = (start + (2 if go_straight else turn)) % 4
    noise = torch.randn(2, batch, generator=generator, device=device, dtype=like.dtype)
    longitudinal = longitudinal_m + 5.0 + noise[0] * position_deviation_m
    speed = 8.0 + noise[1] * speed_deviation_mps
    delta = DELTA_RANGE[0] + (DELTA_RANGE[1] - DELTA_RANGE[0]) * torch.rand(
        batch, generator=generator, device=device, dtype=like.dtype
    )
    lane = approach_lanes(road, device)[start]
    view = LaneView.of(road, lane)
    x, y = roads.position(view, longitudinal, torch.zeros_like(longitudinal))
    heading = roads.heading_at(view, longitudinal)
    distance = torch.sqrt((state.x_m - x[:, None]) ** 2 + (state.y_m - y[:, None]) ** 2)
    crowded = (state.present & (distance < SPAWN_CLEARANCE_M)).any(1)
    # Row 0 is the ego's. While the traffic warms up without it, row 0 stays empty: a vehicle
    # there would drive with the ego's commands instead of as traffic. A row stays free for it.
    ego_missing = (~state.present[:, 0]).long()
    row = state.present.sum(1) + ego_missing
    add = (draw <= probability) & ~crowded & (row < state.x_m.shape[1] - 1 + ego_missing)
    env = torch.nonzero(add).flatten()
    if env.numel() == 0:
        return
    row, x, y, heading, speed = row[env], x[env], y[env], heading[env], speed[env]
    closest = roads.closest_lane(road, x, y, heading)
    routes = spawner.routes.to(device)[closest, end[env]]
    _write(state, env, row, x, y, heading, speed, closest, delta[env], routes)


def _write(
    state: NetworkState,
    env: Tensor,
    row: Tensor,
    x: Tensor,
    y: Tensor,
    heading: Tensor,
    speed: Tensor,
    lane: Tensor,
    delta: Tensor,
    routes: Tensor,
) -> None:
    """A new IDM vehicle in ``row`` of scenes ``env`` (``make_on_lane``, ``plan_route_to``)."""
    where = (env, row)
    steps = state.route_road.shape[-1]
    if routes.shape[1] > steps:
        raise ValueError(f"a route of {routes.shape[1]} steps does not fit {steps}")
    padding = torch.full((env.numel(), steps - routes.shape[1]), roads.NONE, device=env.device)
    write_idm_vehicle(
        state,
        where,
        x_m=x,
        y_m=y,
        heading_rad=heading,
        speed_mps=speed,
        lane=lane,
        target_lane=lane,
        delta=delta,
        lane_changes=True,
    )
    state.route_road[where] = torch.cat([routes[..., 0], padding], 1)
    state.route_lane[where] = torch.cat([routes[..., 1], padding], 1)


def clear_vehicles(state: NetworkState, road: roads.RoadTensors) -> NetworkState:
    """``IntersectionEnv._clear_vehicles``: the traffic near the end of an exit lane leaves."""
    view = LaneView.of(road, state.lane)
    along, _ = roads.local_coordinates(view, state.x_m, state.y_m)
    leaving = exit_lanes(road, state.x_m.device)[state.lane]
    leaving = leaving & (along >= view.length_m - LEAVING_MARGIN_M)
    rows = torch.arange(state.x_m.shape[1], device=state.x_m.device)
    gone = leaving & state.present & ~state.static & (rows != 0)
    if not bool(gone.any()):
        return state
    return keep_rows(state, state.present & ~gone)


def has_arrived(state: NetworkState, road: roads.RoadTensors) -> Tensor:
    """``IntersectionEnv.has_arrived`` for the ego ``(B,)``: 25 m along its exit lane."""
    lane = state.lane[:, 0]
    view = LaneView.of(road, lane)
    along, _ = roads.local_coordinates(view, state.x_m[:, 0], state.y_m[:, 0])
    return exit_lanes(road, lane.device)[lane] & (along >= ARRIVAL_DISTANCE_M)


def spawn_intersection(
    spawner: Spawner, batch: int, generator: torch.Generator, like: Tensor
) -> NetworkState:
    """``IntersectionEnv._make_vehicles``: nine vehicles offered along the approaches, three
    seconds of traffic, a challenger going straight across, then the ego on the south approach,
    bound for the configured exit (or a random one), with no vehicle left within 20 m of it."""
    config = spawner.config
    count = int(config["initial_vehicle_count"])
    state = _empty(spawner, batch, like)
    for longitudinal in torch.linspace(0, 80, count).tolist()[:-1]:
        spawn_vehicle(state, spawner, generator, longitudinal_m=longitudinal)
    traffic = spawner.network_config
    if traffic is None:
        raise ValueError("intersection-v0's spawner needs the engine's configuration")
    compiled = spawner.compiled
    for _ in range(round(WARM_UP_S * traffic.simulation_hz)):
        steering, acceleration = network_step.act(state, spawner.road, traffic, compiled=compiled)
        network_step.step(state, spawner.road, traffic, steering, acceleration, compiled=compiled)
    spawn_vehicle(
        state,
        spawner,
        generator,
        longitudinal_m=60.0,
        probability=1.0,
        go_straight=True,
        position_deviation_m=0.1,
        speed_deviation_mps=0.0,
    )
    return _place_ego(state, spawner, generator)


def _empty(spawner: Spawner, batch: int, like: Tensor) -> NetworkState:
    """Scenes of :data:`ROWS` free rows (row 0 kept for the ego, placed last)."""
    lane = torch.full((batch, ROWS), int(approach_lanes(spawner.road, like.device)[0]))
    zeros = torch.zeros(batch, ROWS, device=like.device, dtype=like.dtype)
    placement = Placement(
        lane=lane.to(like.device),
        longitudinal_m=zeros,
        speed_mps=zeros,
        target_speed_mps=zeros,
        delta=zeros + 4.0,
        destination=torch.full_like(lane, -1).to(like.device),
    )
    state = spawner.state(placement)
    return keep_rows(state, torch.zeros_like(state.present))


def _place_ego(state: NetworkState, spawner: Spawner, generator: torch.Generator) -> NetworkState:
    """The ego at 60 m + 5 N(1, 1) of the south approach, at its speed limit, then the traffic
    within 20 m of it removed."""
    road, like = spawner.road, state.x_m
    batch, device = like.shape[0], like.device
    # Row 0 is the ego's: the traffic moves one row down to free it.
    moved = keep_rows(state, state.present)
    last = torch.full((batch, 1), ROWS - 1, device=device)
    shift = torch.cat([last, torch.arange(ROWS - 1, device=device).expand(batch, -1)], 1)
    state = reorder_rows(moved, shift)
    lane = approach_lanes(road, device)[torch.zeros(batch, dtype=torch.long, device=device)]
    noise = torch.randn(batch, generator=generator, device=device, dtype=like.dtype)
    longitudinal = 60.0 + 5.0 * (1.0 + noise)
    view = LaneView.of(road, lane)
    x, y = roads.position(view, longitudinal, torch.zeros_like(longitudinal))
    speed = road.speed_limit_mps[lane]
    heading = roads.heading_at(view, torch.full_like(longitudinal, 60.0))
    destination = spawner.config["destination"]
    if destination is None:
        end = torch.randint(1, 4, (batch,), generator=generator, device=device)
    else:
        end = torch.full((batch,), DESTINATIONS.index(destination), device=device)
    closest = roads.closest_lane(road, x, y, heading)
    controlled = spawner.ego_control != "continuous"
    routes = spawner.routes.to(device)[closest, end]
    if not controlled:
        routes = torch.full_like(routes, roads.NONE)
    rows = torch.zeros(batch, dtype=torch.long, device=device)
    everyone = torch.arange(batch, device=device)
    delta = torch.full_like(x, 4.0)
    _write(state, everyone, rows, x, y, heading, speed, closest, delta, routes)
    state.idm[:, 0] = False
    state.lane_changes[:, 0] = False
    state.controlled[:, 0] = controlled
    target = torch.zeros_like(speed)
    if spawner.ego_control == "meta":
        speeds = spawner.meta_target_speeds_mps
        target = meta_target_speed_mps(torch.zeros_like(rows), speed, speed, speeds, snap=True)
    elif spawner.ego_control == "follow":
        target = speed
    state.target_speed_mps[:, 0] = target
    state.timer_s[:, 0] = 0.0
    distance = torch.sqrt((state.x_m - x[:, None]) ** 2 + (state.y_m - y[:, None]) ** 2)
    near = (distance < EGO_CLEARANCE_M) & (torch.arange(ROWS, device=device) != 0)
    return keep_rows(state, state.present & ~near)
