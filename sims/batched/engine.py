"""One simulation step of ``B`` highway scenes at once: decide (IDM, MOBIL, the ego), move, collide.

This is ``Road.act`` then ``Road.step`` of highway-env 1.12, for highway-v0's straight road. Where
highway-env loops over vehicles one by one, the engine decides for all of them together; the one
place where that order is visible, a vehicle aborting its lane change because someone ahead has
just chosen the same lane, is reproduced by letting each vehicle see the new choices of the vehicles
before it and the old ones of those after it, as the sequential loop does.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sims.batched import physics
from sims.batched.neighbours import LANE_WIDTH_M, index_lanes, neighbours
from sims.batched.state import META_TARGET_SPEEDS_MPS, BatchConfig, BatchState, closest_lane

ACCELERATION_RANGE_MPS2 = (-5.0, 5.0)  # highway-env's ContinuousAction
STEERING_RANGE_RAD = (-math.pi / 4, math.pi / 4)
META_ACTIONS = ("LANE_LEFT", "IDLE", "LANE_RIGHT", "FASTER", "SLOWER")  # DiscreteMetaAction


def apply_ego_action(state: BatchState, config: BatchConfig, action: Tensor) -> None:
    """``ActionType.act`` for the ego, at the first simulation step of a policy step.

    :param action: ``(B, 2)`` in [-1, 1] (acceleration, steering) under continuous control, or
        ``(B,)`` indices into :data:`META_ACTIONS` under the meta-action controller.
    """
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

    Other vehicles run ``IDMVehicle.act`` (MOBIL lane changes, lateral control, IDM); the ego holds
    its continuous action, or runs ``ControlledVehicle.act`` under the meta-action controller.
    """
    x, y, heading, speed = state.x_m, state.y_m, state.heading_rad, state.speed_mps
    lanes = index_lanes(x, y, config.lanes)
    old_target = state.target_lane
    queries = torch.stack([state.lane, old_target, state.lane - 1, state.lane + 1], dim=-1)
    front, rear = neighbours(lanes, x, queries)
    others = torch.ones_like(state.crashed)
    others[:, 0] = False
    active = others & ~state.crashed

    # Lateral decisions: MOBIL once a second for vehicles in their lane, aborts for the others.
    new_target = _mobil(state, config, front, rear, active)
    changing = active & (state.lane != old_target)
    new_target = _abort_lane_changes(state, config, old_target, new_target, changing)
    state.target_lane = torch.where(active, new_target, old_target)

    # Longitudinal: IDM behind the leader of the current lane and, while changing, of the target.
    target = state.target_lane
    target_front = torch.where(
        target == state.lane - 1,
        front[..., 2],
        torch.where(
            target == state.lane + 1,
            front[..., 3],
            torch.where(target == old_target, front[..., 1], front[..., 0]),
        ),
    )
    acceleration = _idm_behind(state, config, front[..., 0])
    behind_target = _idm_behind(state, config, target_front)
    acceleration = torch.where(
        target != state.lane, torch.minimum(acceleration, behind_target), acceleration
    )
    acceleration = acceleration.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
    steering = physics.steering_control_rad(y - target.to(y.dtype) * LANE_WIDTH_M, speed, heading, 0.0)

    if config.ego_control == "continuous":
        steering[:, 0] = state.ego_steering_rad
        acceleration[:, 0] = state.ego_acceleration_mps2
    else:
        acceleration[:, 0] = physics.speed_control_mps2(
            state.target_speed_mps[:, 0], speed[:, 0]
        )
    return steering, acceleration


def step(state: BatchState, config: BatchConfig, steering: Tensor, acceleration: Tensor) -> int:
    """``Road.step``: move every vehicle, then detect collisions. Updates ``state`` in place.

    :return: how many vehicles' collision windows were too short to be sure no pair was missed.
    """
    dt = config.dt_s
    steering = torch.where(state.crashed, 0.0, steering)
    acceleration = physics.clip_acceleration_mps2(acceleration, state.speed_mps, state.crashed)
    if config.ego_control == "continuous":
        # ``clip_actions`` rewrites the ego's held action in place, so the change persists.
        state.ego_steering_rad = steering[:, 0]
        state.ego_acceleration_mps2 = acceleration[:, 0]
    state.timer_s = state.timer_s + dt
    x, y, heading, speed = physics.bicycle_step(
        state.x_m, state.y_m, state.heading_rad, state.speed_mps, steering, acceleration, dt
    )
    state.x_m = torch.where(state.has_impact, x + state.impact_x_m, x)
    state.y_m = torch.where(state.has_impact, y + state.impact_y_m, y)
    state.crashed = state.crashed | state.has_impact
    state.has_impact = torch.zeros_like(state.has_impact)
    state.heading_rad, state.speed_mps = heading, speed
    state.lane = closest_lane(state.y_m, config.lanes)
    return _collide(state, config)


def _gather(values: Tensor, index: Tensor) -> Tensor:
    """``values[b, index[b, ...]]`` for ``(B, N)`` values; entries where ``index`` is -1 are junk."""
    flat = index.clamp(min=0).reshape(index.shape[0], -1)
    return values.gather(1, flat).reshape(index.shape)


def _idm(
    state: BatchState,
    config: BatchConfig,
    vehicle: Tensor,
    front: Tensor,
    delta: Tensor,
) -> Tensor:
    """IDM acceleration of ``vehicle`` behind ``front`` (either may be -1: none), with exponent ``delta``."""
    x, heading, speed = state.x_m, state.heading_rad, state.speed_mps
    acceleration = physics.idm_acceleration_mps2(
        _gather(speed, vehicle),
        _gather(heading, vehicle),
        _gather(state.target_speed_mps, vehicle),
        delta,
        config.speed_limit_mps,
        _gather(x, front) - _gather(x, vehicle),
        _gather(speed, front),
        _gather(heading, front),
        front >= 0,
    )
    # ``IDMVehicle.acceleration`` returns 0 when asked about no vehicle.
    return torch.where(vehicle >= 0, acceleration, 0.0)


def _idm_behind(state: BatchState, config: BatchConfig, front: Tensor) -> Tensor:
    batch, count = state.x_m.shape
    me = torch.arange(count, device=front.device).expand(batch, count)
    return _idm(state, config, me, front, state.delta)


def _mobil(
    state: BatchState, config: BatchConfig, front: Tensor, rear: Tensor, active: Tensor
) -> Tensor:
    """``IDMVehicle.change_lane_policy`` for vehicles keeping their lane: MOBIL, once a second."""
    due = active & (state.lane == state.target_lane) & (state.timer_s > physics.LANE_CHANGE_DELAY_S)
    state.timer_s = torch.where(due, 0.0, state.timer_s)
    batch, count = state.x_m.shape
    me = torch.arange(count, device=front.device).expand(batch, count)
    self_a = _idm(state, config, me, front[..., 0], state.delta)
    target = state.target_lane
    for side, lane in ((2, state.lane - 1), (3, state.lane + 1)):  # left, then right: right wins
        exists = (lane >= 0) & (lane < config.lanes)
        reachable = (state.y_m - lane.to(state.y_m.dtype) * LANE_WIDTH_M).abs() <= 2 * LANE_WIDTH_M
        moving = state.speed_mps.abs() >= 1
        follower_a = _idm(state, config, rear[..., side], me, state.delta)
        self_pred_a = _idm(state, config, me, front[..., side], state.delta)
        safe = follower_a >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2
        # POLITENESS is 0 in highway-env, so only the vehicle's own gain counts.
        gain = self_pred_a - self_a >= physics.LANE_CHANGE_MIN_ACC_GAIN_MPS2
        target = torch.where(due & exists & reachable & moving & safe & gain, lane, target)
    return target


def _abort_lane_changes(
    state: BatchState,
    config: BatchConfig,
    old_target: Tensor,
    new_target: Tensor,
    changing: Tensor,
) -> Tensor:
    """Abort a lane change when another controlled vehicle just ahead is changing into the same lane."""
    env, asking = torch.nonzero(changing, as_tuple=True)
    if env.numel() == 0:
        return new_target
    count = state.x_m.shape[1]
    others = torch.arange(count, device=env.device)
    # The sequential loop shows a vehicle the new decisions of those before it, old ones after it.
    seen = torch.where(others[None, :] < asking[:, None], new_target[env], old_target[env])
    mine = old_target[env, asking][:, None]
    controlled = others[None, :] > 0 if config.ego_control == "continuous" else others[None, :] >= 0
    gap = state.x_m[env] - state.x_m[env, asking][:, None]
    star = physics.desired_gap_m(
        state.speed_mps[env, asking][:, None],
        state.heading_rad[env, asking][:, None],
        state.speed_mps[env],
        state.heading_rad[env],
    )
    blocking = (
        controlled
        & (others[None, :] != asking[:, None])
        & (state.lane[env] != mine)
        & (seen == mine)
        & (gap > 0)
        & (gap < star)
    )
    abort = blocking.any(dim=1)
    result = new_target.clone()
    result[env[abort], asking[abort]] = state.lane[env[abort], asking[abort]]
    return result


def _collide(state: BatchState, config: BatchConfig) -> int:
    """``RoadObject.handle_collisions`` over every pair (``i < j``), as ``Road.step`` runs them."""
    batch, count = state.x_m.shape
    dt = config.dt_s
    order = torch.argsort(state.x_m, dim=1)
    window = count - 1 if config.collision_window == 0 else min(config.collision_window, count - 1)
    first = order[:, :-1].unsqueeze(-1).expand(-1, -1, window)
    shift = torch.arange(1, window + 1, device=order.device)
    later_slot = torch.arange(count - 1, device=order.device)[:, None] + shift[None, :]
    valid = later_slot < count
    second = order.gather(1, later_slot.clamp(max=count - 1).reshape(1, -1).expand(batch, -1))
    second = second.reshape(batch, count - 1, window)
    i, j = torch.minimum(first, second), torch.maximum(first, second)
    reach = 2 * physics.HALF_DIAGONAL_M + physics.MAX_SPEED_MPS * dt
    overflow = 0
    if window < count - 1:
        sorted_x = state.x_m.gather(1, order)
        beyond = sorted_x[:, window:] - sorted_x[:, :-window]
        overflow = int((beyond <= reach).sum())
    dx = _gather(state.x_m, j) - _gather(state.x_m, i)
    dy = _gather(state.y_m, j) - _gather(state.y_m, i)
    close = valid & (
        torch.sqrt(dx * dx + dy * dy)
        <= 2 * physics.HALF_DIAGONAL_M + _gather(state.speed_mps, i) * dt
    )
    env, slot, k = torch.nonzero(close, as_tuple=True)
    if env.numel() == 0:
        return overflow
    a, b = i[env, slot, k], j[env, slot, k]
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
    _apply_impacts(state, env[will_intersect], a[will_intersect], b[will_intersect],
                   move_x[will_intersect], move_y[will_intersect])
    return overflow


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
