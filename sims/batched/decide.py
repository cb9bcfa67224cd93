"""``Road.act`` for ``B`` scenes: every vehicle's lane decision, steering and acceleration.

Other vehicles run ``IDMVehicle.act``: MOBIL once a second for a vehicle in its lane, an abort check
for a vehicle changing lane, lateral control towards the target lane, and IDM behind the leader of its
lane (and of the target lane while changing). The ego holds its continuous action, or runs
``ControlledVehicle.act`` under the meta-action controller.

Every neighbour comes from the lane masks of :mod:`sims.batched.neighbours`. What concerns every
vehicle (IDM behind the leader of its lane, the steering) runs with fixed shapes, in graphs that
``torch.compile`` can fuse. The rarer questions (MOBIL is due for about one vehicle in fifteen per
step; aborts and the target lane's leader concern the few changing lane) are asked only for the
vehicles concerned, found first (see :func:`sims.batched.engine.act`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sims.batched import physics
from sims.batched.ego import with_ego_commands
from sims.batched.neighbours import LANE_WIDTH_M, Neighbours, lookup
from sims.batched.state import BatchConfig, BatchState


@dataclass(frozen=True)
class Motion:
    """What IDM reads of every vehicle ``(B, N)``, computed once per step so that it is gathered, not
    recomputed, wherever another vehicle's values are needed."""

    x_m: Tensor
    speed_mps: Tensor
    cos: Tensor  # of the heading
    sin: Tensor
    target_speed_mps: Tensor

    @classmethod
    def of(cls, state: BatchState) -> Motion:
        return cls(
            x_m=state.x_m,
            speed_mps=state.speed_mps,
            cos=torch.cos(state.heading_rad),
            sin=torch.sin(state.heading_rad),
            target_speed_mps=state.target_speed_mps,
        )


def follow_lane(
    state: BatchState, config: BatchConfig, table: Neighbours, motion: Motion, crashed: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Every vehicle's IDM acceleration behind the front vehicle of its lane, and whose lane-change
    decision is due (once a second, in its lane).

    ``crashed`` and the mask returned are int32, not bool: compiled CPU code reads and writes
    boolean tensors several times slower.

    :return: the acceleration [m/s2], the vehicles due, the vehicles changing lane (that may have
        to abort), and the timers [s] (reset where due).
    """
    env = _envs(state)
    front, _ = lookup(table, env, table.rank, state.lane)
    own_lane_mps2 = _idm(motion, config, env, None, front, state.delta)
    idm_vehicle = (crashed == 0) & ~_is_ego(state)
    in_lane = state.lane == state.target_lane
    due = idm_vehicle & in_lane & (state.timer_s > physics.LANE_CHANGE_DELAY_S)
    changing = idm_vehicle & ~in_lane
    return own_lane_mps2, due.int(), changing.int(), torch.where(due, 0.0, state.timer_s)


def mobil(
    state: BatchState,
    config: BatchConfig,
    table: Neighbours,
    motion: Motion,
    own_lane_mps2: Tensor,
    env: Tensor,
    vehicle: Tensor,
) -> Tensor:
    """``IDMVehicle.change_lane_policy`` (MOBIL) for the vehicles due, ``vehicle`` of ``env``.

    :return: each one's new target lane (its own lane when no change is worth it).
    """
    flat = env * state.x_m.shape[1] + vehicle
    lane, delta = state.lane.view(-1)[flat], state.delta.view(-1)[flat]
    y, slot = state.y_m.view(-1)[flat], table.rank.view(-1)[flat]
    self_a = own_lane_mps2.view(-1)[flat]
    moving = motion.speed_mps.view(-1)[flat].abs() >= 1
    decision = lane
    for side in (lane - 1, lane + 1):  # left, then right: right wins when both qualify
        exists = (side >= 0) & (side < config.lanes)
        reachable = (y - side.to(y.dtype) * LANE_WIDTH_M).abs() <= 2 * LANE_WIDTH_M
        new_front, new_rear = lookup(table, env, slot, side.clamp(0, config.lanes - 1))
        follower_a = _idm(motion, config, env, new_rear, vehicle, delta, own=False)
        self_pred_a = _idm(motion, config, env, vehicle, new_front, delta)
        safe = follower_a >= -physics.LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2
        # POLITENESS is 0 in highway-env, so only the vehicle's own gain counts.
        gain = self_pred_a - self_a >= physics.LANE_CHANGE_MIN_ACC_GAIN_MPS2
        decision = torch.where(exists & reachable & moving & safe & gain, side, decision)
    return decision


def must_abort(
    state: BatchState,
    config: BatchConfig,
    table: Neighbours,
    motion: Motion,
    new_target: Tensor,
    env: Tensor,
    asking: Tensor,
) -> Tensor:
    """Whether vehicle ``asking`` of ``env``, changing lane, aborts: another controlled vehicle just
    ahead is changing into the same lane.

    Only a vehicle ahead and closer than the desired gap can cause an abort, so the candidates are
    the next ``collision_window`` vehicles in station order (all of them when the window is 0).
    highway-env's loop shows each vehicle the new decisions of the vehicles before it and the old
    ones of those after it (``new_target``, ``state.target_lane``); the same view is built here.
    """
    count = state.x_m.shape[1]
    window = collision_window(config, count)
    order, rank = table.order.view(-1), table.rank.view(-1)
    me = (env * count + asking)[:, None]
    slots = rank[me] + torch.arange(1, window + 1, device=env.device)
    exists = slots < count
    ahead = order[env[:, None] * count + slots.clamp(max=count - 1)]
    flat_ahead = env[:, None] * count + ahead
    new, old = new_target.view(-1), state.target_lane.view(-1)
    seen = torch.where(ahead < asking[:, None], new[flat_ahead], old[flat_ahead])
    mine = old[me]
    speed, cos, sin = motion.speed_mps.view(-1), motion.cos.view(-1), motion.sin.view(-1)
    star = physics.desired_gap_m(
        speed[me], cos[me], sin[me], speed[flat_ahead], cos[flat_ahead], sin[flat_ahead]
    )
    gap = motion.x_m.view(-1)[flat_ahead] - motion.x_m.view(-1)[me]
    blocking = (
        exists
        & (ahead >= _first_controlled(config))
        & (state.lane.view(-1)[flat_ahead] != mine)
        & (seen == mine)
        & (gap > 0)
        & (gap < star)
    )
    return blocking.any(dim=1)


def longitudinal(
    state: BatchState, config: BatchConfig, own_lane_mps2: Tensor, target: Tensor, crashed: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Every vehicle's steering [rad] towards its (final) target lane and acceleration [m/s2]
    behind the leader of its lane, and which vehicles' acceleration :func:`behind_target_leader`
    must limit (int32): the IDM-driven vehicles whose target lane is not their lane."""
    acceleration = own_lane_mps2.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
    offset = state.y_m - target.to(state.y_m.dtype) * LANE_WIDTH_M
    steering = physics.steering_control_rad(offset, state.speed_mps, state.heading_rad, 0.0)

    ego = _is_ego(state)
    steering, acceleration = with_ego_commands(
        config.ego_control, ego, steering, acceleration, state
    )
    following = torch.where(ego, config.ego_control == "follow", crashed == 0)
    return steering, acceleration, (following & (target != state.lane)).int()


def behind_target_leader(
    state: BatchState,
    config: BatchConfig,
    table: Neighbours,
    motion: Motion,
    acceleration: Tensor,
    target: Tensor,
    env: Tensor,
    vehicle: Tensor,
) -> Tensor:
    """The acceleration [m/s2] of ``vehicle`` of ``env``, changing lane, limited by IDM behind the
    leader of its target lane too."""
    flat = env * state.x_m.shape[1] + vehicle
    slot, lane = table.rank.view(-1)[flat], target.view(-1)[flat]
    front, _ = lookup(table, env, slot, lane)
    behind = _idm(motion, config, env, vehicle, front, state.delta.view(-1)[flat])
    limited = torch.minimum(acceleration.view(-1)[flat], behind)
    return limited.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)


def collision_window(config: BatchConfig, count: int) -> int:
    """How many vehicles ahead in station order are looked at for aborts and collisions."""
    return count - 1 if config.collision_window == 0 else min(config.collision_window, count - 1)


def _first_controlled(config: BatchConfig) -> int:
    """The first ``ControlledVehicle``: the ego is one under the meta-action controller only."""
    return 0 if config.ego_control == "meta" else 1


def _vehicles(state: BatchState) -> Tensor:
    """Every vehicle's own index ``(B, N)``."""
    batch, count = state.x_m.shape
    return torch.arange(count, device=state.x_m.device).expand(batch, count)


def _envs(state: BatchState) -> Tensor:
    """Every vehicle's environment index ``(B, N)``."""
    batch, count = state.x_m.shape
    return torch.arange(batch, device=state.x_m.device)[:, None].expand(batch, count)


def _is_ego(state: BatchState) -> Tensor:
    return _vehicles(state) == 0


def _idm(
    motion: Motion,
    config: BatchConfig,
    env: Tensor,
    vehicle: Tensor | None,
    front: Tensor,
    delta: Tensor,
    *,
    own: bool = True,
) -> Tensor:
    """IDM acceleration of ``vehicle`` behind ``front`` (either -1: none) of ``env``, exponent
    ``delta``: the asking vehicle's, as highway-env uses ``self.DELTA``. All share one shape.

    ``vehicle`` None means every vehicle, in place (``(B, N)`` arguments): nothing is gathered.
    ``own`` False: a prediction by the vehicle ahead (MOBIL's new follower), made with the asking
    vehicle's model as highway-env makes it, so a following ego's own time gap and model do not apply.
    """
    count = motion.x_m.shape[1]
    has_front = front >= 0

    def mine(field: Tensor) -> Tensor:
        return field if vehicle is None else field.view(-1)[env * count + vehicle.clamp(min=0)]

    if vehicle is None:
        me = torch.arange(count, device=front.device).expand_as(front)
    else:
        me = vehicle.clamp(min=0)
    ahead = env * count + torch.where(has_front, front, me)
    x, speed = motion.x_m.view(-1), motion.speed_mps.view(-1)
    cos, sin = motion.cos.view(-1), motion.sin.view(-1)
    my_speed = mine(motion.speed_mps)
    following = config.ego_following if own and config.ego_control == "follow" else None
    is_ego = me == 0
    star = physics.desired_gap_m(
        my_speed,
        mine(motion.cos),
        mine(motion.sin),
        speed[ahead],
        cos[ahead],
        sin[ahead],
        physics.ego_time_gap_s(is_ego, following),
    )
    terms = (
        my_speed,
        mine(motion.target_speed_mps),
        delta,
        config.speed_limit_mps,
        x[ahead] - mine(motion.x_m),
        star,
        has_front,
    )
    acceleration = physics.ego_model_acceleration_mps2(
        physics.idm_acceleration_mps2(*terms), terms, is_ego, following
    )
    if vehicle is None:
        return acceleration
    # ``IDMVehicle.acceleration`` returns 0 when asked about no vehicle.
    return torch.where(vehicle >= 0, acceleration, 0.0)
