"""highway-env's regulated junction (``RegulatedRoad``, intersection-v0) as batched pure functions.

Twice a second, every pair of vehicles whose predicted paths over the next three seconds come within
a (stretched) vehicle box of each other is a conflict; the vehicle on the lane of lower priority (or,
at equal priority, the one behind) yields: its target speed drops to zero until the next check.
Predictions follow highway-env: a ``ControlledVehicle`` moves along its route at constant speed
(``position_heading_along_route``); any other vehicle holds its steering at zero acceleration
(``Vehicle.predict_trajectory_constant_speed``).

These functions are the building blocks of intersection-v0 on the engine; ``tests/sims/
test_regulation.py`` holds the predicted paths, the conflicts and who yields equal to highway-env's
on live intersection scenes, as the engine computes them (:func:`predicted_paths`,
:func:`conflicts`, :func:`first_yields`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from sims.batched import physics, roads
from sims.batched.roads import LaneView, RoadTensors

if TYPE_CHECKING:  # for the annotations only: sims.batched.network_step imports this module
    from sims.batched.network import NetworkConfig, NetworkState

PREDICTION_STEP_S = 0.25  # [s] RegulatedRoad.is_conflict_possible's step
PREDICTION_HORIZON_S = 3.0  # [s] and horizon (times 0.25, 0.5, ..., 2.75)
BOX_STRETCH = (1.5, 0.9)  # the boxes compared: 1.5 lengths by 0.9 widths


def prediction_times(device: torch.device | str, dtype: torch.dtype) -> Tensor:
    """``np.arange(step, horizon, step)``: the times [s] at which paths are compared."""
    count = math.ceil((PREDICTION_HORIZON_S - PREDICTION_STEP_S) / PREDICTION_STEP_S)
    return PREDICTION_STEP_S * torch.arange(1, count + 1, device=device, dtype=dtype)


def predict_along_route(
    road: RoadTensors,
    lane: Tensor,
    route_lanes: Tensor,
    x_m: Tensor,
    y_m: Tensor,
    speed_mps: Tensor,
    times_s: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """``ControlledVehicle.predict_trajectory_constant_speed``: positions and headings ``(M, T)``.

    :param lane: ``(M,)`` each vehicle's current lane.
    :param route_lanes: ``(M, R)`` the lanes of its route from its first step on, NONE after the
        end (highway-env's route with each unnamed lane id resolved to the current lane's); a
        vehicle without a route passes its current lane alone.
    """
    along, _ = roads.local_coordinates(LaneView.of(road, lane), x_m, y_m)
    longitudinal = along[:, None] + speed_mps[:, None] * times_s  # (M, T)
    steps = (route_lanes >= 0).sum(1).clamp(min=1)  # (M,)
    length = road.length_m[route_lanes.clamp(min=0)]  # (M, R)
    before = torch.cumsum(length, 1) - length  # the length of the route before each step
    index = torch.arange(route_lanes.shape[1], device=lane.device)
    # The route's step where highway-env stops walking: past each step it moves on while more
    # steps remain, so it stops at the first step it does not overrun, or at the last.
    overrun = (longitudinal[:, :, None] - before[:, None, :]) > length[:, None, :]
    last = index[None, None, :] >= (steps[:, None, None] - 1)
    stop = torch.argmax((~overrun | last).int(), dim=2)  # (M, T)
    chosen = route_lanes.clamp(min=0).gather(1, stop)
    remaining = longitudinal - before.gather(1, stop)
    view = LaneView.of(road, chosen)
    x, y = roads.position(view, remaining, torch.zeros_like(remaining))
    return x, y, roads.heading_at(view, remaining)


def predict_constant_steering(
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    steering_rad: Tensor,
    crashed: Tensor,
    times_s: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """``Vehicle.predict_trajectory_constant_speed`` (constant steering): a copy of the vehicle
    stepped at zero acceleration with its steering held, to each of ``times_s``; ``(M, T)``."""
    steps = torch.diff(times_s, prepend=times_s.new_zeros(1))
    xs, ys, headings = [], [], []
    steering = torch.where(crashed, 0.0, steering_rad)
    x, y, heading, speed = x_m, y_m, heading_rad, speed_mps
    for step in steps.unbind():
        acceleration = physics.clip_acceleration_mps2(torch.zeros_like(speed), speed, crashed)
        x, y, heading, speed = physics.bicycle_step(
            x, y, heading, speed, steering, acceleration, step
        )
        xs.append(x)
        ys.append(y)
        headings.append(heading)
    return torch.stack(xs, 1), torch.stack(ys, 1), torch.stack(headings, 1)


def _corners(
    x_m: Tensor, y_m: Tensor, length_m: Tensor, width_m: Tensor, heading_rad: Tensor
) -> tuple[Tensor, Tensor]:
    """``utils.rect_corners`` with the centre and the edges' midpoints: ``(..., 9)`` points."""
    half_l, half_w = length_m / 2, width_m / 2
    zero = torch.zeros_like(half_l)
    along = torch.stack([-half_l, -half_l, half_l, half_l, zero, -half_l, half_l, zero, zero], -1)
    across = torch.stack([-half_w, half_w, half_w, -half_w, zero, zero, zero, -half_w, half_w], -1)
    cos, sin = torch.cos(heading_rad)[..., None], torch.sin(heading_rad)[..., None]
    return x_m[..., None] + cos * along - sin * across, y_m[..., None] + sin * along + cos * across


def _inside(
    point_x: Tensor,
    point_y: Tensor,
    x_m: Tensor,
    y_m: Tensor,
    length_m: Tensor,
    width_m: Tensor,
    heading_rad: Tensor,
) -> Tensor:
    """``utils.point_in_rotated_rectangle``, which rotates the offset by the box's angle (not by its
    opposite), as highway-env does."""
    cos, sin = torch.cos(heading_rad)[..., None], torch.sin(heading_rad)[..., None]
    dx, dy = point_x - x_m[..., None], point_y - y_m[..., None]
    u, v = cos * dx - sin * dy, sin * dx + cos * dy
    half_l, half_w = (length_m / 2)[..., None], (width_m / 2)[..., None]
    return ((-half_l <= u) & (u <= half_l) & (-half_w <= v) & (v <= half_w)).any(-1)


def boxes_intersect(first: tuple[Tensor, ...], second: tuple[Tensor, ...]) -> Tensor:
    """``utils.rotated_rectangles_intersect``: a corner, midpoint or centre of either box inside
    the other. Each box is (x [m], y [m], length [m], width [m], heading [rad]), shapes broadcast."""
    one = _inside(*_corners(*first), *second)
    two = _inside(*_corners(*second), *first)
    return one | two


def conflicts(
    paths: tuple[Tensor, Tensor, Tensor], near: Tensor, length_m: Tensor, width_m: Tensor
) -> Tensor:
    """``RegulatedRoad.is_conflict_possible`` for every pair of rows of ``E`` scenes ``(E, P)``
    (``torch.triu_indices`` order): at some time, the centres close (``near``, the pre-test that
    :func:`predicted_paths` returns with ``paths``) and the stretched boxes intersecting. The box
    test runs only where the pre-test holds (few pairs).

    :param paths: (x [m], y [m], heading [rad]) ``(E * N, T)``, from :func:`predicted_paths`.
    :param length_m: ``(E, N)`` the rows' lengths, as ``width_m`` their widths.
    """
    scenes, count = length_m.shape
    first, second = torch.triu_indices(count, count, offset=1, device=near.device)
    scene, pair, time = torch.nonzero(near, as_tuple=True)
    one, other = scene * count + first[pair], scene * count + second[pair]
    x, y, heading = paths
    length, width = length_m.flatten(), width_m.flatten()
    box_hit = stretched_boxes_intersect(
        (x[one, time], y[one, time], heading[one, time]),
        (x[other, time], y[other, time], heading[other, time]),
        (length[one], width[one]),
        (length[other], width[other]),
    )
    hit = torch.zeros(scenes, first.numel(), dtype=torch.bool, device=near.device)
    hit[scene[box_hit], pair[box_hit]] = True
    return hit


def centres_near(
    x1_m: Tensor, y1_m: Tensor, x2_m: Tensor, y2_m: Tensor, length_m: Tensor
) -> Tensor:
    """``is_conflict_possible``'s spherical pre-test: centres closer than the first's length [m]."""
    return torch.sqrt((x2_m - x1_m) ** 2 + (y2_m - y1_m) ** 2) <= length_m


def stretched_boxes_intersect(
    first: tuple[Tensor, Tensor, Tensor],
    second: tuple[Tensor, Tensor, Tensor],
    first_size_m: tuple[Tensor, Tensor],
    second_size_m: tuple[Tensor, Tensor],
) -> Tensor:
    """``is_conflict_possible``'s accurate test: the boxes of 1.5 lengths by 0.9 widths around
    two poses (x [m], y [m], heading [rad]) intersect; shapes broadcast."""
    stretch_l, stretch_w = BOX_STRETCH
    (x1, y1, h1), (x2, y2, h2) = first, second
    (l1, w1), (l2, w2) = first_size_m, second_size_m
    return boxes_intersect(
        (x1, y1, stretch_l * l1, stretch_w * w1, h1), (x2, y2, stretch_l * l2, stretch_w * w2, h2)
    )


def first_yields(
    priority_first: Tensor,
    priority_second: Tensor,
    first: tuple[Tensor, Tensor, Tensor],
    second: tuple[Tensor, Tensor, Tensor],
) -> Tensor:
    """``RegulatedRoad.respect_priorities``: whether the first of each pair yields (else the
    second does). The lane of lower priority yields; at equal priority, the vehicle behind does:
    the first when the second is further ahead of it (``front_distance_to``) than it is ahead of
    the second.

    :param first: (x [m], y [m], heading [rad]) of the first vehicles, as ``second``.
    """
    (x1, y1, h1), (x2, y2, h2) = first, second
    second_ahead = torch.cos(h1) * (x2 - x1) + torch.sin(h1) * (y2 - y1)
    first_ahead = torch.cos(h2) * (x1 - x2) + torch.sin(h2) * (y1 - y2)
    return torch.where(
        priority_first == priority_second,
        second_ahead > first_ahead,
        priority_first < priority_second,
    )


def route_lanes(
    road: RoadTensors, lane: Tensor, route_road: Tensor, route_lane: Tensor, route_head: Tensor
) -> Tensor:
    """The lanes a prediction walks ``(M, R)``: the route's steps from ``route_head`` on, each step
    that names no lane on the current lane's id (``_get_route_head_with_id``), NONE after the end;
    the current lane alone for a vehicle whose route is empty.

    :param route_road: ``(M, R)`` a vehicle's route as the state holds it (with ``route_lane``).
    """
    steps = route_road.shape[1]
    index = (route_head[:, None] + torch.arange(steps, device=lane.device)).clamp(max=steps - 1)
    valid = (route_head[:, None] + torch.arange(steps, device=lane.device) < steps) & (
        route_road.gather(1, index) >= 0
    )
    step_road = route_road.gather(1, index).clamp(min=0)
    lane_id = torch.where(
        route_lane.gather(1, index) >= 0, route_lane.gather(1, index), road.lane_id[lane][:, None]
    )
    widest = road.lane_of.shape[1]
    lanes = road.lane_of[step_road, lane_id.clamp(max=widest - 1)]
    lanes = torch.where(valid & (lanes >= 0), lanes, roads.NONE)
    empty = ~valid[:, 0]
    first = torch.where(empty, lane, lanes[:, 0])
    return torch.cat([first[:, None], torch.where(empty[:, None], roads.NONE, lanes[:, 1:])], 1)


REGULATION_HZ = 2  # RegulatedRoad.REGULATION_FREQUENCY
YIELD_DURATION_S = 0.0  # RegulatedRoad.YIELD_DURATION


FEWEST_SCENES = 128  # a compiled prediction is given a multiple of this many scenes, padded
SHARE_MARGIN = 1.25  # and a quarter more than the share of the batch due at a step


def regulate(
    state: NetworkState,
    road: RoadTensors,
    config: NetworkConfig,
    compiled_paths: Callable[..., tuple[Tensor, ...]] | None = None,
) -> None:
    """``RegulatedRoad.step``'s part before the vehicles move: count the road's steps, and every
    ``1 / dt / REGULATION_HZ`` of them ``enforce_road_rules`` in those scenes. Updates ``state``.

    :param compiled_paths: the compiled graph of :func:`predicted_paths`, given a fixed number of
        scenes at a time (:func:`scenes_per_prediction`); None: :func:`predicted_paths`, given
        the scenes due all at once."""
    state.road_steps = state.road_steps + 1
    period = int(1 / config.dt_s / REGULATION_HZ)
    due = state.road_steps % period == 0
    if not bool(due.any()):
        return
    chunk = 0 if compiled_paths is None else scenes_per_prediction(state.x_m.shape[0], period)
    enforce_road_rules(state, road, torch.nonzero(due).flatten(), compiled_paths, chunk=chunk)


def scenes_per_prediction(batch: int, period: int) -> int:
    """How many scenes a compiled :func:`predicted_paths` is given at a time in a batch of
    ``batch`` scenes checked every ``period`` steps: a quarter more than the share due at a step
    once restarts have spread the scenes' phases, in multiples of 128, so that one compiled graph
    serves a whole run (a graph per number of scenes compiles for ten seconds or more each)."""
    share = math.ceil(SHARE_MARGIN * batch / period)
    return FEWEST_SCENES * max(1, math.ceil(share / FEWEST_SCENES))


def enforce_road_rules(
    state: NetworkState,
    road: RoadTensors,
    envs: Tensor,
    paths: Callable[..., tuple[Tensor, ...]] | None = None,
    *,
    chunk: int = 0,
) -> None:
    """``RegulatedRoad.enforce_road_rules`` in scenes ``envs``: release the vehicles stopped at the
    last check (their target speed back to their lane's limit), then stop the yielding one of every
    conflicting pair, if it is a controlled vehicle of the traffic (never the ego).

    :param paths: :func:`predicted_paths` or its compiled graph.
    :param chunk: give ``paths`` this many scenes at a time, the last ones padded (repeating the
        last scene), so that it meets one shape; 0: all at once."""
    if envs.numel() == 0:
        return
    yielding, timer = state.yielding[envs], state.yield_timer[envs]
    release = yielding & (timer >= YIELD_DURATION_S * REGULATION_HZ)
    limit = road.speed_limit_mps[state.lane[envs]]
    state.target_speed_mps[envs] = torch.where(release, limit, state.target_speed_mps[envs])
    state.yield_timer[envs] = torch.where(yielding & ~release, timer + 1, timer)
    yielding = yielding & ~release
    count, scenes = state.x_m.shape[1], envs.numel()
    x, y, heading, near = _predict(state, road, envs, paths or predicted_paths, chunk or scenes)
    hit = conflicts((x, y, heading), near, state.length_m[envs], state.width_m[envs])
    first, second = torch.triu_indices(count, count, offset=1, device=x.device)
    scene, pair = torch.nonzero(hit, as_tuple=True)
    one, other = scene * count + first[pair], scene * count + second[pair]
    priority = road.priority[state.lane[envs]].flatten()
    x_now, y_now = state.x_m[envs].flatten(), state.y_m[envs].flatten()
    heading_now = state.heading_rad[envs].flatten()
    first_yields_now = first_yields(
        priority[one],
        priority[other],
        (x_now[one], y_now[one], heading_now[one]),
        (x_now[other], y_now[other], heading_now[other]),
    )
    stops = torch.zeros_like(state.present[envs]).flatten()
    stops[torch.where(first_yields_now, one, other)] = True
    stops = stops.view(scenes, count)
    rows = torch.arange(count, device=x.device)
    # Only a ControlledVehicle that is not an MDPVehicle yields: the traffic, never the ego.
    stopped = stops & state.controlled[envs] & (rows != 0)
    state.target_speed_mps[envs] = torch.where(stopped, 0.0, state.target_speed_mps[envs])
    state.yielding[envs] = yielding | stopped
    state.yield_timer[envs] = torch.where(stopped, 0, state.yield_timer[envs])


def _predict(
    state: NetworkState,
    road: RoadTensors,
    envs: Tensor,
    paths: Callable[..., tuple[Tensor, ...]],
    chunk: int,
) -> tuple[Tensor, ...]:
    """``paths`` of scenes ``envs``, ``chunk`` at a time (the last chunk padded), put together."""
    count, parts = state.x_m.shape[1], []
    for start in range(0, envs.numel(), chunk):
        scenes = envs[start : start + chunk]
        padded = scenes[torch.arange(chunk, device=envs.device).clamp(max=scenes.numel() - 1)]
        x, y, heading, near = paths(state, road, padded)
        rows = scenes.numel() * count
        parts.append((x[:rows], y[:rows], heading[:rows], near[: scenes.numel()]))
    if len(parts) == 1:
        return parts[0]
    return tuple(torch.cat(values) for values in zip(*parts, strict=True))


def predicted_paths(
    state: NetworkState, road: RoadTensors, envs: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The predicted paths (x [m], y [m], heading [rad]) of the rows of scenes ``envs``, flattened
    to ``(E * N, T)``: along its route for a controlled vehicle, with its steering held for the
    ego under continuous control (the one row that may be no controlled vehicle); and
    ``(E, P, T)`` int32 (not bool: compiled CPU code writes boolean tensors several times
    slower), ``is_conflict_possible``'s pre-test of every pair of two vehicles
    (``torch.triu_indices`` order) at every time: their centres closer than the first one's
    length. Every row is predicted along its route, the padding rows too (never compared), so
    that the shapes are fixed and the work compiles."""
    count, dtype = state.x_m.shape[1], state.x_m.dtype
    times = prediction_times(state.x_m.device, dtype)

    def rows(values: Tensor) -> Tensor:
        return values[envs].flatten(0, 1)

    lane = rows(state.lane)
    lanes = route_lanes(
        road, lane, rows(state.route_road), rows(state.route_lane), rows(state.route_head)
    )
    routed = predict_along_route(
        road, lane, lanes, rows(state.x_m), rows(state.y_m), rows(state.speed_mps), times
    )
    # Only the ego may be no ControlledVehicle (under continuous control): the junction's traffic
    # is IDM vehicles, so the held steering is predicted for the first row alone.
    held = predict_constant_steering(
        state.x_m[envs, 0],
        state.y_m[envs, 0],
        state.heading_rad[envs, 0],
        state.speed_mps[envs, 0],
        state.ego_steering_rad[envs].to(dtype),
        state.crashed[envs, 0],
        times,
    )
    ego_controlled = state.controlled[envs, :1, None]

    def with_ego(routed_values: Tensor, held_values: Tensor) -> Tensor:
        grid = routed_values.view(-1, count, times.numel())
        first_row = torch.where(ego_controlled, grid[:, :1], held_values[:, None])
        return torch.cat([first_row, grid[:, 1:]], 1).flatten(0, 1)

    x, y, heading = (with_ego(a, b) for a, b in zip(routed, held, strict=True))
    first, second = torch.triu_indices(count, count, offset=1, device=lane.device)
    vehicle = state.present[envs] & ~state.static[envs]
    tested = vehicle[:, first] & vehicle[:, second]
    grid_x, grid_y = x.view(-1, count, times.numel()), y.view(-1, count, times.numel())
    near = centres_near(
        grid_x[:, first], grid_y[:, first], grid_x[:, second], grid_y[:, second],
        state.length_m[envs][:, first, None],
    )  # fmt: skip
    return x, y, heading, (tested[..., None] & near).int()
