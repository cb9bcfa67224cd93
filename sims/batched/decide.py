"""``Road.act`` for ``B`` scenes: every vehicle's lane decision, steering and acceleration.

Other vehicles run ``IDMVehicle.act``: MOBIL once a second for a vehicle in its lane, an abort check
for a vehicle changing lane, lateral control towards the target lane, and IDM behind the leader of its
lane (and of the target lane while changing). The ego holds its continuous action, or runs
``ControlledVehicle.act`` under the meta-action controller.

Most vehicles only need the leader of their own lane, which the sorted lane index gives in O(1).
The rarer questions (MOBIL is due for about one vehicle in fifteen per step; aborts and target-lane
leaders concern vehicles mid-change) are asked only for the vehicles concerned, gathered first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sims.batched import physics
from sims.batched.neighbours import (
    LANE_WIDTH_M,
    LaneIndex,
    index_lanes,
    own_lane_neighbours,
    search,
)
from sims.batched.state import BatchConfig, BatchState


@dataclass(frozen=True)
class _Fields:
    """The vehicle quantities IDM reads, flattened to ``(B * N,)`` so any vehicle is one index."""

    x: Tensor
    speed: Tensor
    cos: Tensor
    sin: Tensor
    target_speed: Tensor
    count: int


def decide(state: BatchState, config: BatchConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One ``Road.act``: new target lanes and timers, and every vehicle's steering and acceleration.

    :return: target lane, timer [s], steering [rad] and acceleration [m/s2], each ``(B, N)``.
    """
    batch, count = state.x_m.shape
    fields = _Fields(
        x=state.x_m.reshape(-1),
        speed=state.speed_mps.reshape(-1),
        cos=torch.cos(state.heading_rad).reshape(-1),
        sin=torch.sin(state.heading_rad).reshape(-1),
        target_speed=state.target_speed_mps.reshape(-1),
        count=count,
    )
    lanes = index_lanes(state.x_m, state.y_m, config.lanes)
    front, rear = _own_lane_neighbours(lanes, state)
    active = ~state.crashed
    active[:, 0] = False  # the ego is not an IDM vehicle

    # Lateral decisions: MOBIL once a second for vehicles in their lane, aborts for the others.
    old_target = state.target_lane
    due = active & (state.lane == old_target) & (state.timer_s > physics.LANE_CHANGE_DELAY_S)
    timer = torch.where(due, 0.0, state.timer_s)
    new_target = _mobil(state, config, fields, lanes, front, due)
    changing = active & (state.lane != old_target)
    target = _abort_lane_changes(state, config, fields, old_target, new_target, changing)

    # Longitudinal: IDM behind the leader of the current lane and, while changing, of the target.
    acceleration, steering = _follow(
        state.x_m,
        state.y_m,
        state.speed_mps,
        state.heading_rad,
        state.target_speed_mps,
        state.delta,
        front,
        target,
        config.speed_limit_mps,
    )
    following = active.clone()
    following[:, 0] = config.ego_control == "follow"
    env, vehicle = torch.nonzero(following & (target != state.lane), as_tuple=True)
    if env.numel():
        target_front, _ = search(lanes, env, vehicle, state.x_m, target[env, vehicle])
        behind = _idm(
            config,
            fields,
            env * count + vehicle,
            _flat(target_front, env, count),
            state.delta[env, vehicle],
        )
        limited = torch.minimum(acceleration[env, vehicle], behind)
        acceleration[env, vehicle] = limited.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)

    if config.ego_control == "continuous":
        steering[:, 0] = state.ego_steering_rad
        acceleration[:, 0] = state.ego_acceleration_mps2
    elif config.ego_control == "meta":
        acceleration[:, 0] = physics.speed_control_mps2(
            state.target_speed_mps[:, 0], state.speed_mps[:, 0]
        )
    return target, timer, steering, acceleration


def _follow(
    x_m: Tensor,
    y_m: Tensor,
    speed_mps: Tensor,
    heading_rad: Tensor,
    target_speed_mps: Tensor,
    delta: Tensor,
    front: Tensor,
    target_lane: Tensor,
    speed_limit_mps: float,
) -> tuple[Tensor, Tensor]:
    """Every vehicle's IDM acceleration behind the leader of its lane, and steering to its target."""
    ahead = front.clamp(min=0)
    cos, sin = torch.cos(heading_rad), torch.sin(heading_rad)
    star = physics.desired_gap_m(
        speed_mps, cos, sin, speed_mps.gather(1, ahead), cos.gather(1, ahead), sin.gather(1, ahead)
    )
    acceleration = physics.idm_acceleration_mps2(
        speed_mps,
        target_speed_mps,
        delta,
        speed_limit_mps,
        x_m.gather(1, ahead) - x_m,
        star,
        front >= 0,
    ).clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
    offset = y_m - target_lane.to(y_m.dtype) * LANE_WIDTH_M
    return acceleration, physics.steering_control_rad(offset, speed_mps, heading_rad, 0.0)


def _flat(index: Tensor, env: Tensor | None = None, count: int = 0) -> Tensor:
    """Vehicle indices (-1: none) as flat indices into ``(B * N,)`` fields (-1 kept)."""
    if env is None:
        batch, count = index.shape
        env = torch.arange(batch, device=index.device)[:, None]
        return torch.where(index >= 0, env * count + index, -1).reshape(-1)
    return torch.where(index >= 0, env * count + index, -1)


def _own_lane_neighbours(lanes: LaneIndex, state: BatchState) -> tuple[Tensor, Tensor]:
    """Front and rear in each vehicle's current lane; searched for the few that are off the road."""
    front, rear, member = own_lane_neighbours(lanes, state.lane)
    env, vehicle = torch.nonzero(~member, as_tuple=True)
    if env.numel():
        front[env, vehicle], rear[env, vehicle] = search(
            lanes, env, vehicle, state.x_m, state.lane[env, vehicle]
        )
    return front, rear


def _idm(
    config: BatchConfig, fields: _Fields, vehicle: Tensor, front: Tensor, delta: Tensor
) -> Tensor:
    """IDM acceleration of flat ``vehicle`` behind flat ``front`` (either -1: none), exponent ``delta``."""
    me = vehicle.clamp(min=0)
    has_front = front >= 0
    ahead = torch.where(has_front, front, me)
    speed = fields.speed[me]
    cos, sin = fields.cos[me], fields.sin[me]
    star = physics.desired_gap_m(
        speed, cos, sin, fields.speed[ahead], fields.cos[ahead], fields.sin[ahead]
    )
    acceleration = physics.idm_acceleration_mps2(
        speed,
        fields.target_speed[me],
        delta,
        config.speed_limit_mps,
        fields.x[ahead] - fields.x[me],
        star,
        has_front,
    )
    # ``IDMVehicle.acceleration`` returns 0 when asked about no vehicle.
    return torch.where(vehicle >= 0, acceleration, 0.0)


def _mobil(
    state: BatchState,
    config: BatchConfig,
    fields: _Fields,
    lanes: LaneIndex,
    front: Tensor,
    due: Tensor,
) -> Tensor:
    """``IDMVehicle.change_lane_policy`` for the vehicles whose decision is due: MOBIL."""
    target = state.target_lane.clone()
    env, vehicle = torch.nonzero(due, as_tuple=True)
    if env.numel() == 0:
        return target
    count = fields.count
    me = env * count + vehicle
    delta = state.delta[env, vehicle]
    lane, y = state.lane[env, vehicle], state.y_m[env, vehicle]
    self_a = _idm(config, fields, me, _flat(front[env, vehicle], env, count), delta)
    decision = target[env, vehicle]
    for side in (lane - 1, lane + 1):  # left, then right: right wins when both qualify
        exists = (side >= 0) & (side < config.lanes)
        reachable = (y - side.to(y.dtype) * LANE_WIDTH_M).abs() <= 2 * LANE_WIDTH_M
        moving = fields.speed[me].abs() >= 1
        new_front, new_rear = search(lanes, env, vehicle, state.x_m, side)
        follower_a = _idm(config, fields, _flat(new_rear, env, count), me, delta)
        self_pred_a = _idm(config, fields, me, _flat(new_front, env, count), delta)
        safe = follower_a >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2
        # POLITENESS is 0 in highway-env, so only the vehicle's own gain counts.
        gain = self_pred_a - self_a >= physics.LANE_CHANGE_MIN_ACC_GAIN_MPS2
        decision = torch.where(exists & reachable & moving & safe & gain, side, decision)
    target[env, vehicle] = decision
    return target


def _abort_lane_changes(
    state: BatchState,
    config: BatchConfig,
    fields: _Fields,
    old_target: Tensor,
    new_target: Tensor,
    changing: Tensor,
) -> Tensor:
    """Abort a lane change when another controlled vehicle just ahead is changing into the same lane.

    Only a vehicle ahead and closer than the desired gap can cause an abort, so the candidates are
    the next ``collision_window`` vehicles in station order (all of them when the window is 0).
    highway-env's loop shows each vehicle the new decisions of the vehicles before it and the old
    ones of those after it; the same view is built here.
    """
    env, asking = torch.nonzero(changing, as_tuple=True)
    if env.numel() == 0:
        return new_target
    count = fields.count
    window = count - 1 if config.collision_window == 0 else min(config.collision_window, count - 1)
    order = torch.argsort(state.x_m, dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(count, device=order.device).expand_as(order))
    slots = rank[env, asking][:, None] + torch.arange(1, window + 1, device=order.device)
    exists = slots < count
    ahead = order[env[:, None], slots.clamp(max=count - 1)]
    flat_ahead = env[:, None] * count + ahead
    seen = torch.where(
        ahead < asking[:, None], new_target.view(-1)[flat_ahead], old_target.view(-1)[flat_ahead]
    )
    mine = old_target[env, asking][:, None]
    # Only a ControlledVehicle ahead counts: the ego is one under the meta-action controller only.
    first_controlled = 0 if config.ego_control == "meta" else 1
    me = (env * count + asking)[:, None]
    star = physics.desired_gap_m(
        fields.speed[me],
        fields.cos[me],
        fields.sin[me],
        fields.speed[flat_ahead],
        fields.cos[flat_ahead],
        fields.sin[flat_ahead],
    )
    gap = fields.x[flat_ahead] - fields.x[me]
    blocking = (
        exists
        & (ahead >= first_controlled)
        & (state.lane.view(-1)[flat_ahead] != mine)
        & (seen == mine)
        & (gap > 0)
        & (gap < star)
    )
    abort = blocking.any(dim=1)
    result = new_target.clone()
    result[env[abort], asking[abort]] = state.lane[env[abort], asking[abort]]
    return result
