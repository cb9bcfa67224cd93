"""One simulation step of ``B`` highway scenes at once: the ego's action, decide, move, collide.

This is ``ActionType.act``, ``Road.act`` (in :mod:`sims.batched.decide`) and ``Road.step`` of
highway-env 1.12, for highway-v0's straight road.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sims.batched import physics
from sims.batched.decide import decide
from sims.batched.neighbours import LANE_WIDTH_M
from sims.batched.state import META_TARGET_SPEEDS_MPS, BatchConfig, BatchState, closest_lane

ACCELERATION_RANGE_MPS2 = (-5.0, 5.0)  # highway-env's ContinuousAction
STEERING_RANGE_RAD = (-math.pi / 4, math.pi / 4)
META_ACTIONS = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")  # DiscreteMetaAction


def apply_ego_action(state: BatchState, config: BatchConfig, action: Tensor) -> None:
    """``ActionType.act`` for the ego, at the first simulation step of a policy step.

    :param action: ``(B, 2)`` in [-1, 1] (acceleration, steering) under continuous control,
        ``(B,)`` indices into :data:`META_ACTIONS` under the meta-action controller, or ``(B, 2)``
        (target lane index, target speed [m/s]) for an ego that follows.
    """
    if config.ego_control == "follow":
        state.target_lane[:, 0] = action[:, 0].round().long().clamp(0, config.lanes - 1)
        state.target_speed_mps[:, 0] = action[:, 1].to(state.x_m.dtype)
        return
    if config.ego_control == "continuous":
        action = action.to(state.x_m.dtype).clamp(-1, 1)
        low, high = ACCELERATION_RANGE_MPS2
        state.ego_acceleration_mps2 = low + (action[:, 0] + 1) * (high - low) / 2
        low, high = STEERING_RANGE_RAD
        state.ego_steering_rad = low + (action[:, 1] + 1) * (high - low) / 2
        return
    action = action.long()
    lane = state.target_lane[:, 0]
    moved = torch.where(action == 0, lane - 1, torch.where(action == 2, lane + 1, lane))
    moved = moved.clamp(0, config.lanes - 1)
    # ``is_reachable_from``: the new lane's centre within two lane widths, ahead of its start.
    reachable = ((state.y_m[:, 0] - moved * LANE_WIDTH_M).abs() <= 2 * LANE_WIDTH_M) & (
        state.x_m[:, 0] >= 0
    )
    state.target_lane[:, 0] = torch.where(reachable, moved, lane)
    speeds = torch.tensor(META_TARGET_SPEEDS_MPS, device=lane.device, dtype=state.x_m.dtype)
    fraction = (state.speed_mps[:, 0] - speeds[0]) / (speeds[-1] - speeds[0])
    index = torch.round(fraction * (len(speeds) - 1)).clamp(0, len(speeds) - 1).long()
    index = index + (action == 3).long() - (action == 4).long()
    index = index.clamp(0, len(speeds) - 1)
    changes_speed = (action == 3) | (action == 4)
    state.target_speed_mps[:, 0] = torch.where(
        changes_speed, speeds[index], state.target_speed_mps[:, 0]
    )


def act(state: BatchState, config: BatchConfig) -> tuple[Tensor, Tensor]:
    """``Road.act``: every vehicle's steering [rad] and acceleration [m/s2] for the next step.

    Updates the target lanes and lane-change timers of ``state``.
    """
    state.target_lane, state.timer_s, steering, acceleration = decide(state, config)
    return steering, acceleration


def step(state: BatchState, config: BatchConfig, steering: Tensor, acceleration: Tensor) -> int:
    """``Road.step``: move every vehicle, then detect collisions. Updates ``state`` in place.

    :return: how many vehicles' collision windows were too short to be sure no pair was missed.
    """
    (
        state.x_m,
        state.y_m,
        state.heading_rad,
        state.speed_mps,
        state.lane,
        state.timer_s,
        state.crashed,
        steering,
        acceleration,
    ) = _move(
        state.x_m,
        state.y_m,
        state.heading_rad,
        state.speed_mps,
        state.timer_s,
        state.crashed,
        state.has_impact,
        state.impact_x_m,
        state.impact_y_m,
        steering,
        acceleration,
        config.dt_s,
        config.lanes,
    )
    state.has_impact = torch.zeros_like(state.has_impact)
    if config.ego_control == "continuous":
        # ``clip_actions`` rewrites the ego's held action in place, so the change persists.
        state.ego_steering_rad = steering[:, 0]
        state.ego_acceleration_mps2 = acceleration[:, 0]
    return _collide(state, config)


def _move(
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    timer_s: Tensor,
    crashed: Tensor,
    has_impact: Tensor,
    impact_x_m: Tensor,
    impact_y_m: Tensor,
    steering: Tensor,
    acceleration: Tensor,
    dt_s: float,
    lanes: int,
) -> tuple[Tensor, ...]:
    """``Vehicle.step`` for every vehicle: clipped actions, the bicycle, a pending impact, the lane."""
    steering = torch.where(crashed, 0.0, steering)
    acceleration = physics.clip_acceleration_mps2(acceleration, speed_mps, crashed)
    x, y, heading, speed = physics.bicycle_step(
        x_m, y_m, heading_rad, speed_mps, steering, acceleration, dt_s
    )
    x = torch.where(has_impact, x + impact_x_m, x)
    y = torch.where(has_impact, y + impact_y_m, y)
    lane = closest_lane(y, lanes)
    return x, y, heading, speed, lane, timer_s + dt_s, crashed | has_impact, steering, acceleration


def _collide(state: BatchState, config: BatchConfig) -> int:
    """``RoadObject.handle_collisions`` on every pair ``(i < j)`` close enough to collide.

    Pairs are looked for among each vehicle and the next ``collision_window`` vehicles in station
    order (all of them when the window is 0), with ``_is_colliding``'s spherical pre-test; the
    separating-axis test then runs on the few pairs left.

    :return: how many windows were too short to be sure that no close pair was left out.
    """
    count = state.x_m.shape[1]
    dt = config.dt_s
    window = count - 1 if config.collision_window == 0 else min(config.collision_window, count - 1)
    order, close, overflow = _close_pairs(state.x_m, state.y_m, state.speed_mps, window, dt)
    shift, env, slot = torch.nonzero(close, as_tuple=True)
    if env.numel() == 0:
        return int(overflow)
    one, two = order[env, slot], order[env, slot + shift + 1]
    a, b = torch.minimum(one, two), torch.maximum(one, two)
    heading_a, heading_b = state.heading_rad[env, a], state.heading_rad[env, b]
    speed_a, speed_b = state.speed_mps[env, a], state.speed_mps[env, b]
    intersecting, will_intersect, move_x, move_y = physics.box_collisions(
        state.x_m[env, a] - state.x_m[env, b],
        state.y_m[env, a] - state.y_m[env, b],
        heading_a,
        heading_b,
        (speed_a * torch.cos(heading_a) * dt, speed_a * torch.sin(heading_a) * dt),
        (speed_b * torch.cos(heading_b) * dt, speed_b * torch.sin(heading_b) * dt),
    )
    crashed = state.crashed.clone()
    crashed[env[intersecting], a[intersecting]] = True
    crashed[env[intersecting], b[intersecting]] = True
    state.crashed = crashed
    hit = will_intersect
    _apply_impacts(state, env[hit], a[hit], b[hit], move_x[hit], move_y[hit])
    return int(overflow)


def _close_pairs(
    x_m: Tensor, y_m: Tensor, speed_mps: Tensor, window: int, dt_s: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The spherical pre-test between each vehicle and the next ``window`` in station order.

    :return: the station order ``(B, N)``; ``(window, B, N - 1)`` whether slot ``p`` and slot
        ``p + shift + 1`` are close; and how many windows may be too short.
    """
    count = x_m.shape[1]
    order = torch.argsort(x_m, dim=1)
    x, y = x_m.gather(1, order), y_m.gather(1, order)
    reach = 2 * physics.HALF_DIAGONAL_M + speed_mps.gather(1, order) * dt_s
    close = torch.zeros((window, x.shape[0], count - 1), dtype=torch.bool, device=x.device)
    for shift in range(1, window + 1):
        close[shift - 1, :, : count - shift] = _close_at(x, y, reach, order, shift)
    longest = 2 * physics.HALF_DIAGONAL_M + physics.MAX_SPEED_MPS * dt_s
    if window < count - 1:
        overflow = (x[:, window:] - x[:, :-window] <= longest).sum()
    else:
        overflow = torch.zeros((), dtype=torch.long, device=x_m.device)
    return order, close, overflow


def _close_at(x: Tensor, y: Tensor, reach: Tensor, order: Tensor, shift: int) -> Tensor:
    """Whether the vehicles ``shift`` slots apart in station order pass the spherical pre-test."""
    dx, dy = x[:, shift:] - x[:, :-shift], y[:, shift:] - y[:, :-shift]
    # The pre-test uses the speed of the vehicle that comes first in highway-env's list.
    first_is_front = order[:, shift:] < order[:, :-shift]
    limit = torch.where(first_is_front, reach[:, shift:], reach[:, :-shift])
    return torch.sqrt(dx * dx + dy * dy) <= limit


def _apply_impacts(
    state: BatchState, env: Tensor, a: Tensor, b: Tensor, move_x: Tensor, move_y: Tensor
) -> None:
    """Each vehicle keeps the impact of its last pair in highway-env's loop order, half each way."""
    if env.numel() == 0:
        return
    count = state.x_m.shape[1]
    order = a * count + b
    vehicle = torch.cat([env * count + a, env * count + b])
    rank = torch.cat([order, order])
    push_x = torch.cat([move_x / 2, -move_x / 2])
    push_y = torch.cat([move_y / 2, -move_y / 2])
    latest = torch.full((state.x_m.numel(),), -1, device=env.device, dtype=torch.long)
    latest = latest.scatter_reduce(0, vehicle, rank, reduce="amax")
    keep = rank == latest[vehicle]
    impact_x, impact_y = state.impact_x_m.flatten().clone(), state.impact_y_m.flatten().clone()
    has_impact = state.has_impact.flatten().clone()
    impact_x[vehicle[keep]] = push_x[keep]
    impact_y[vehicle[keep]] = push_y[keep]
    has_impact[vehicle[keep]] = True
    state.impact_x_m = impact_x.view_as(state.x_m)
    state.impact_y_m = impact_y.view_as(state.y_m)
    state.has_impact = has_impact.view_as(state.crashed)
