"""One simulation step of ``B`` highway scenes at once: the ego's action, decide, move, collide.

This is ``ActionType.act``, ``Road.act`` (in :mod:`sims.batched.decide`) and ``Road.step`` of
highway-env 1.12, for highway-v0's straight road.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from sims.batched import decide, physics
from sims.batched.ego import continuous_command, meta_target_speed_mps
from sims.batched.neighbours import LANE_WIDTH_M, Neighbours, neighbours
from sims.batched.state import META_TARGET_SPEEDS_MPS, BatchConfig, BatchState, closest_lane

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
        state.ego_acceleration_mps2, state.ego_steering_rad = continuous_command(
            action, state.x_m.dtype
        )
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
    state.target_speed_mps[:, 0] = meta_target_speed_mps(
        action, state.speed_mps[:, 0], state.target_speed_mps[:, 0], META_TARGET_SPEEDS_MPS
    )


def act(state: BatchState, config: BatchConfig, *, compiled: bool = False) -> tuple[Tensor, Tensor]:
    """``Road.act``: every vehicle's steering [rad] and acceleration [m/s2] for the next step.

    Updates the target lanes and lane-change timers of ``state``. With ``compiled``, the fixed-shape
    parts run as ``torch.compile`` graphs (see :func:`kernels`).
    """
    run = kernels(compiled)
    table = run.neighbours(state.order, state.y_m, config.lanes)
    motion = run.motion(state)
    crashed = state.crashed.int()
    own_lane_mps2, due, changing, state.timer_s = run.follow_lane(
        state, config, table, motion, crashed
    )
    env, vehicle = torch.nonzero(due, as_tuple=True)
    target = state.target_lane.clone()
    if env.numel():
        target[env, vehicle] = run.mobil(state, config, table, motion, own_lane_mps2, env, vehicle)
    env, vehicle = torch.nonzero(changing, as_tuple=True)
    if env.numel():
        abort = run.must_abort(state, config, table, motion, target, env, vehicle)
        env, vehicle = env[abort], vehicle[abort]
        target[env, vehicle] = state.lane[env, vehicle]
    state.target_lane = target
    steering, acceleration, following = run.longitudinal(
        state, config, own_lane_mps2, target, crashed
    )
    env, vehicle = torch.nonzero(following, as_tuple=True)
    if env.numel():
        acceleration[env, vehicle] = run.behind_target_leader(
            state, config, table, motion, acceleration, target, env, vehicle
        )
    return steering, acceleration


def step(
    state: BatchState,
    config: BatchConfig,
    steering: Tensor,
    acceleration: Tensor,
    *,
    compiled: bool = False,
) -> Tensor:
    """``Road.step``: move every vehicle, then detect collisions. Updates ``state`` in place.

    :return: how many vehicles' collision windows were too short to be sure no pair was missed
        (a 0-d tensor, so that nothing waits for it on an accelerator).
    """
    run = kernels(compiled)
    (
        state.x_m,
        state.y_m,
        state.heading_rad,
        state.speed_mps,
        state.lane,
        state.timer_s,
        steering,
        acceleration,
    ) = run.move(
        state.x_m,
        state.y_m,
        state.heading_rad,
        state.speed_mps,
        state.timer_s,
        state.crashed.int(),
        state.has_impact.int(),
        state.impact_x_m,
        state.impact_y_m,
        steering,
        acceleration,
        config.dt_s,
        config.lanes,
    )
    state.crashed = state.crashed | state.has_impact
    state.has_impact = torch.zeros_like(state.has_impact)
    if config.ego_control == "continuous":
        # ``clip_actions`` rewrites the ego's held action in place, so the change persists.
        state.ego_steering_rad, state.ego_acceleration_mps2 = steering, acceleration
    x_sorted, state.order = torch.sort(state.x_m, dim=1)
    window = decide.collision_window(config, state.x_m.shape[1])
    close, overflow = run.close_pairs(
        *_station_arrays(x_sorted, state.y_m, state.speed_mps, state.order, window),
        window,
        config.dt_s,
    )
    _collide(state, config, close, window, run.narrow_phase)
    return overflow


VARYING = ("mobil", "must_abort", "behind_target_leader", "narrow_phase")


@dataclass(frozen=True)
class Kernels:
    """The fixed-shape parts of a simulation step, run eagerly or as compiled graphs.

    The parts are cut where a tensor is gathered from, so that each is computed once: a compiler
    that sees a computation and the gathers from it in one graph may recompute it at every gather.
    """

    neighbours: Callable[..., Neighbours]
    motion: Callable[..., decide.Motion]
    follow_lane: Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]
    mobil: Callable[..., Tensor]
    must_abort: Callable[..., Tensor]
    behind_target_leader: Callable[..., Tensor]
    longitudinal: Callable[..., tuple[Tensor, Tensor, Tensor]]
    move: Callable[..., tuple[Tensor, ...]]
    close_pairs: Callable[..., tuple[Tensor, Tensor]]
    narrow_phase: Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]


@functools.cache
def kernels(compiled: bool) -> Kernels:
    """The step's kernels; compiled ones are made once per process, on first use.

    ``torch.compile`` fuses each part's many element-wise operations into a few loops; on a CPU
    this is what makes large batches fast (``drive bench sim`` measures both). Compiling takes a
    minute or more the first time, so tests and short runs use the eager kernels, which compute
    the same functions.
    """
    parts = Kernels(
        neighbours=neighbours,
        motion=decide.Motion.of,
        follow_lane=decide.follow_lane,
        mobil=decide.mobil,
        must_abort=decide.must_abort,
        behind_target_leader=decide.behind_target_leader,
        longitudinal=decide.longitudinal,
        move=_move,
        close_pairs=_close_pairs,
        narrow_phase=_narrow_phase,
    )
    if not compiled:
        return parts
    # The parts that run on the few vehicles or pairs concerned have shapes that vary.
    return Kernels(
        **{
            field.name: torch.compile(getattr(parts, field.name), dynamic=field.name in VARYING)
            for field in fields(parts)
        }
    )


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
    """``Vehicle.step`` for every vehicle: clipped actions, the bicycle, a pending impact, the lane.

    ``crashed`` and ``has_impact`` are int32 (see :func:`decide.follow_lane`).

    :return: x, y, heading, speed, lane, timer, and the ego's clipped steering and acceleration.
    """
    crashed, has_impact = crashed != 0, has_impact != 0
    steering = torch.where(crashed, 0.0, steering)
    acceleration = physics.clip_acceleration_mps2(acceleration, speed_mps, crashed)
    x, y, heading, speed = physics.bicycle_step(
        x_m, y_m, heading_rad, speed_mps, steering, acceleration, dt_s
    )
    x = torch.where(has_impact, x + impact_x_m, x)
    y = torch.where(has_impact, y + impact_y_m, y)
    lane = closest_lane(y, lanes)
    ego = (steering[:, 0].contiguous(), acceleration[:, 0].contiguous())
    return x, y, heading, speed, lane, timer_s + dt_s, *ego


def _close_pairs(
    x_m: Tensor, y_m: Tensor, speed_mps: Tensor, order: Tensor, window: int, dt_s: float
) -> tuple[Tensor, Tensor]:
    """``_is_colliding``'s spherical pre-test between each vehicle and the next ``window`` in
    station order.

    Arguments are ``(B, N + window)``, in station order and padded after the last slot (``x_m``
    with infinity, ``order`` with ``N``): every shift is then one slice of the same arrays, and
    the compiled loop reads memory without masks.

    :return: ``(B, N)`` bit masks: bit ``shift - 1`` of slot ``p`` is set when slots ``p`` and
        ``p + shift`` are close (int32 up to a window of 31, else int64); and how many windows may
        be too short to hold every close pair.
    """
    reach_m = 2 * physics.HALF_DIAGONAL_M + speed_mps * dt_s
    count = x_m.shape[1] - window
    x, y, vehicle, reach = x_m[:, :count], y_m[:, :count], order[:, :count], reach_m[:, :count]
    bits = torch.int32 if window <= 31 else torch.int64
    close = torch.zeros_like(x, dtype=bits)
    for shift in range(1, window + 1):
        dx = x_m[:, shift : shift + count] - x
        dy = y_m[:, shift : shift + count] - y
        # The pre-test uses the speed of the vehicle that comes first in highway-env's list.
        first_is_front = order[:, shift : shift + count] < vehicle
        limit = torch.where(first_is_front, reach_m[:, shift : shift + count], reach)
        close = close | ((torch.sqrt(dx * dx + dy * dy) <= limit).to(bits) << (shift - 1))
    longest = 2 * physics.HALF_DIAGONAL_M + physics.MAX_SPEED_MPS * dt_s
    if window < count - 1:
        overflow = (x[:, window:] - x[:, :-window] <= longest).sum()
    else:
        overflow = torch.zeros((), dtype=torch.long, device=x_m.device)
    return close, overflow


def _station_arrays(
    x_sorted: Tensor, y_m: Tensor, speed_mps: Tensor, order: Tensor, window: int
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The arguments of :func:`_close_pairs`: position, speed and vehicle index in station order,
    with ``window`` slots of padding after the last. (Eager: the compiled gathers are slower.)"""

    def padded(values: Tensor, padding: float) -> Tensor:
        return torch.nn.functional.pad(values, (0, window), value=padding)

    return (
        padded(x_sorted, math.inf),
        padded(y_m.gather(1, order), 0.0),
        padded(speed_mps.gather(1, order), 0.0),
        padded(order, x_sorted.shape[1]),
    )


def _collide(
    state: BatchState, config: BatchConfig, close: Tensor, window: int, narrow: Callable
) -> None:
    """``RoadObject.handle_collisions`` on the close pairs ``(i < j)``: the separating-axis test.

    The pairs that passed the pre-test are few, so they are gathered and tested alone.
    """
    env, slot = torch.nonzero(close, as_tuple=True)
    if env.numel() == 0:
        return
    shifts = torch.arange(window, device=close.device)
    pair, shift = torch.nonzero((close[env, slot][:, None] >> shifts) & 1, as_tuple=True)
    env, slot = env[pair], slot[pair]
    count = state.x_m.shape[1]
    order = state.order.view(-1)
    one, two = order[env * count + slot], order[env * count + slot + shift + 1]
    a, b = torch.minimum(one, two), torch.maximum(one, two)
    intersecting, will_intersect, move_x, move_y = narrow(
        state.x_m,
        state.y_m,
        state.heading_rad,
        state.speed_mps,
        env * count + a,
        env * count + b,
        config.dt_s,
    )
    # In place: :func:`step` made ``state.crashed`` for this step.
    state.crashed[env[intersecting], a[intersecting]] = True
    state.crashed[env[intersecting], b[intersecting]] = True
    hit = will_intersect
    _apply_impacts(state, env[hit], a[hit], b[hit], move_x[hit], move_y[hit])


def _narrow_phase(
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    a: Tensor,
    b: Tensor,
    dt_s: float,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The separating-axis test of the vehicles at flat indices ``a`` and ``b`` (see
    :func:`physics.box_collisions`)."""
    x, y, heading, speed = x_m.view(-1), y_m.view(-1), heading_rad.view(-1), speed_mps.view(-1)
    heading_a, heading_b = heading[a], heading[b]
    speed_a, speed_b = speed[a], speed[b]
    return physics.box_collisions(
        x[a] - x[b],
        y[a] - y[b],
        heading_a,
        heading_b,
        (speed_a * torch.cos(heading_a) * dt_s, speed_a * torch.sin(heading_a) * dt_s),
        (speed_b * torch.cos(heading_b) * dt_s, speed_b * torch.sin(heading_b) * dt_s),
    )


def _apply_impacts(
    state: BatchState, env: Tensor, a: Tensor, b: Tensor, move_x: Tensor, move_y: Tensor
) -> None:
    """Each vehicle keeps the impact of its last pair in highway-env's loop order, half each way.

    Writes in place. ``has_impact`` is new each step (:func:`step`), and the impact tensors are
    read only where it is set; every state's tensors are its own (:func:`.state.spawn`,
    :meth:`BatchState.select` and :func:`.state.from_highway_env` make new ones).
    """
    if env.numel() == 0:
        return
    count = state.x_m.shape[1]
    vehicle = torch.cat([env * count + a, env * count + b])
    # highway-env's loop meets pair (a, b) at rank a * N + b; sorted by vehicle, then by rank, the
    # last entry of each vehicle is the impact it keeps.
    rank = torch.cat([a * count + b] * 2)
    order = torch.argsort(vehicle * count * count + rank)
    vehicle = vehicle[order]
    last = torch.ones_like(vehicle, dtype=torch.bool)
    last[:-1] = vehicle[1:] != vehicle[:-1]
    kept = order[last]
    where = (vehicle[last] // count, vehicle[last] % count)
    state.impact_x_m.index_put_(where, torch.cat([move_x / 2, -move_x / 2])[kept])
    state.impact_y_m.index_put_(where, torch.cat([move_y / 2, -move_y / 2])[kept])
    state.has_impact.index_put_(where, torch.ones_like(kept, dtype=torch.bool))
