"""The executor's safety layer for ``B`` scenes of the batched engine.

:meth:`~planning.rules.RulePlanner._is_safe` in torch, for the ego of every scene: a lane change is
safe when the gap to the new leader is at least ``min_front_gap_m``, the gap to the new follower at
least ``min_rear_gap_m``, and the new follower would brake no harder than
``max_imposed_braking_mps2`` (IDM with the ego as its leader); to start one, no vehicle in the lane
beyond may be beside the gap (``PolicyExecutor._far_lane_conflict``); with the cut-in check, no vehicle
of the lane beyond may be moving into the target lane ahead (``PolicyExecutor._cut_in``), to start a
change or to keep one going. These bounds are the
:class:`~planning.rl.executor.SafetyMargins` of the policy's executor. An abort test scales the gaps
by ``fraction`` and the braking bound by its inverse. Lanes are found as the engine's traffic finds
them (a vehicle within reach of a lane's centre belongs to it, so one mid-change belongs to both),
where the executor also extrapolates lateral drift; on the straight road that is the only
difference.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from planning.rl.executor import CUT_IN_HORIZON_S, CUT_IN_LATERAL_SPEED_MPS, SafetyMargins
from planning.rules import RulesConfig
from sims.batched.neighbours import LANE_WIDTH_M, Neighbours, lookup, neighbours, station_order
from sims.batched.physics import LENGTH_M
from sims.batched.state import BatchConfig, BatchState

RULES = RulesConfig()


def change_is_safe(
    state: BatchState,
    config: BatchConfig,
    lane: Tensor,
    *,
    fraction: float,
    margins: SafetyMargins,
) -> Tensor:
    """Whether each scene's ego may change into (or keep changing into) ``lane`` ``(B,)``.

    :param fraction: 1 to start a change; :attr:`RulesConfig.abort_fraction` to keep one going.
    :param margins: the gaps and the braking bound asked for.
    :return: ``(B,)`` bool.
    """
    batch = state.x_m.shape[0]
    env = torch.arange(batch, device=state.x_m.device)
    table = neighbours(station_order(state.x_m), state.y_m, config.lanes)
    # A lane off the road gives a meaningless answer; callers only ask about lanes that exist.
    front, rear = lookup(table, env, table.rank[:, 0], lane.clamp(0, config.lanes - 1))
    x, speed = state.x_m, state.speed_mps
    front_gap = x[env, front.clamp(min=0)] - x[:, 0] - LENGTH_M
    rear_gap = x[:, 0] - x[env, rear.clamp(min=0)] - LENGTH_M
    front_ok = (front < 0) | (front_gap >= fraction * margins.min_front_gap_m)
    if fraction == 1.0 and margins.far_lane_check:  # starting: PolicyExecutor._far_lane_conflict
        front_ok &= ~_far_lane_conflict(
            state, config, table, env, lane, margins.far_lane_clearance_m
        )
    if margins.cut_in_check:
        front_ok &= ~_cut_in(state, lane, margins.far_lane_clearance_m)
    follower = speed[env, rear.clamp(min=0)]
    braking = _follower_braking_mps2(follower, speed[:, 0], rear_gap)
    rear_ok = (rear < 0) | (
        (rear_gap >= fraction * margins.min_rear_gap_m)
        & (braking >= -margins.max_imposed_braking_mps2 / fraction)
    )
    return front_ok & rear_ok


def _far_lane_conflict(
    state: BatchState,
    config: BatchConfig,
    table: Neighbours,
    env: Tensor,
    lane: Tensor,
    clearance_m: float,
) -> Tensor:
    """A vehicle in the lane beyond ``lane`` (away from the ego's) is alongside the ego or less
    than ``clearance_m`` ahead of it."""
    own = state.lane[:, 0]
    far = lane + (lane - own)
    exists = (lane != own) & (far >= 0) & (far < config.lanes)
    front, rear = lookup(table, env, table.rank[:, 0], far.clamp(0, config.lanes - 1))
    x = state.x_m
    front_gap = x[env, front.clamp(min=0)] - x[:, 0] - LENGTH_M
    rear_gap = x[:, 0] - x[env, rear.clamp(min=0)] - LENGTH_M
    near = ((front >= 0) & (front_gap < clearance_m)) | ((rear >= 0) & (rear_gap < 0))
    return exists & near


def _cut_in(state: BatchState, lane: Tensor, clearance_m: float) -> Tensor:
    """``PolicyExecutor._cut_in`` on the straight road: a vehicle in the lane beyond ``lane`` moves
    towards it faster than :data:`CUT_IN_LATERAL_SPEED_MPS`, alongside the ego or ahead by less than
    ``clearance_m`` plus what the ego closes on it in :data:`CUT_IN_HORIZON_S`."""
    # +1 where the lane beyond is at higher y
    away = (lane - state.lane[:, 0]).sign().to(state.y_m.dtype)[:, None]
    beyond = away * (state.y_m[:, 1:] - lane.to(state.y_m.dtype)[:, None] * LANE_WIDTH_M)
    in_far_lane = (beyond > LANE_WIDTH_M / 2) & (beyond < 1.5 * LANE_WIDTH_M)
    heading, speed = state.heading_rad[:, 1:], state.speed_mps[:, 1:]
    moving_in = -away * speed * torch.sin(heading) > CUT_IN_LATERAL_SPEED_MPS
    closing_mps = (state.speed_mps[:, :1] - speed * torch.cos(heading)).clamp(min=0)
    ahead_m = state.x_m[:, 1:] - state.x_m[:, :1]
    reach_m = clearance_m + closing_mps * CUT_IN_HORIZON_S
    near = (ahead_m > -LENGTH_M) & (ahead_m < reach_m + LENGTH_M)  # half of two vehicles' lengths
    return (in_far_lane & moving_in & near).any(dim=1)


def _follower_braking_mps2(speed_mps: Tensor, lead_speed_mps: Tensor, gap_m: Tensor) -> Tensor:
    """IDM acceleration of a follower at its own speed as desired speed (the free term is 0), as
    :meth:`RulePlanner._is_safe` asks it."""
    idm = RULES.idm
    desired_gap = idm.minimum_gap_m + (
        speed_mps * idm.time_gap_s
        + speed_mps
        * (speed_mps - lead_speed_mps)
        / (2 * math.sqrt(idm.max_acceleration_mps2 * idm.comfortable_deceleration_mps2))
    ).clamp(min=0)
    free = idm.max_acceleration_mps2 * (
        1 - (speed_mps.clamp(min=0) / speed_mps.clamp(min=1)) ** idm.exponent
    )
    return free - idm.max_acceleration_mps2 * (desired_gap / gap_m.clamp(min=0.1)) ** 2
