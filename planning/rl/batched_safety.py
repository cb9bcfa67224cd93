"""The executor's safety layer for ``B`` scenes of the batched engine.

The checks themselves are :mod:`planning.safety`'s, the very functions the
:class:`~planning.rl.executor.PolicyExecutor` calls for one scene; this module only finds, on the
engine's straight road, the quantities they judge: the gaps to the new leader and follower of the
target lane (by lane index, as the engine's traffic finds them: a vehicle within reach of a lane's
centre belongs to it, so one mid-change belongs to both, where the executor also extrapolates lateral
drift) and the vehicles of the lane beyond (by their offset from the target lane's centre, as the
executor finds them). An abort test scales the gaps by ``fraction`` and the braking bound by its
inverse; the far-lane check applies to starts only.
"""

from __future__ import annotations

import torch
from torch import Tensor

from planning.rl.executor import SafetyMargins
from planning.rules import RulesConfig
from planning.safety import FarLane, GapMargins, cut_in, far_lane_conflict, gap_accepted
from sims.batched.neighbours import LANE_WIDTH_M, lookup, neighbours, station_order
from sims.batched.physics import LENGTH_M
from sims.batched.state import BatchConfig, BatchState
from sims.frenet import velocity_in_lane

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
    safe = gap_accepted(
        x[env, front.clamp(min=0)] - x[:, 0] - LENGTH_M,
        x[:, 0] - x[env, rear.clamp(min=0)] - LENGTH_M,
        speed[env, rear.clamp(min=0)],
        speed[:, 0],
        has_front=front >= 0,
        has_rear=rear >= 0,
        fraction=fraction,
        margins=GapMargins(
            min_front_gap_m=margins.min_front_gap_m,
            min_rear_gap_m=margins.min_rear_gap_m,
            max_imposed_braking_mps2=margins.max_imposed_braking_mps2,
        ),
    )
    if not (margins.far_lane_check or margins.cut_in_check):
        return safe
    far = far_lane(state, lane)
    clearance_m = margins.far_lane_clearance_m
    if fraction == 1.0 and margins.far_lane_check:  # starts only
        safe = safe & ~far_lane_conflict(far, clearance_m)
    if margins.cut_in_check:
        safe = safe & ~cut_in(far, state.speed_mps[:, :1], clearance_m)
    return safe


def far_lane(state: BatchState, lane: Tensor) -> FarLane[Tensor]:
    """The vehicles of the lane beyond ``lane`` (away from the ego's lane) on the straight road
    (lane heading 0), ``(B, N - 1)``: those between a half and one and a half lane widths beyond
    ``lane``'s centre, alongside the ego or ahead of it. Where ``lane`` is the ego's, there is no
    lane beyond."""
    # +1 where the lane beyond is at higher y
    away = (lane - state.lane[:, 0]).sign().to(state.y_m.dtype)[:, None]
    beyond = away * (state.y_m[:, 1:] - lane.to(state.y_m.dtype)[:, None] * LANE_WIDTH_M)
    in_far_lane = (beyond > LANE_WIDTH_M / 2) & (beyond < 1.5 * LANE_WIDTH_M)
    # the lane's heading is 0 on the straight road: a vehicle's turn is its heading
    speed_along, rightward = velocity_in_lane(state.speed_mps[:, 1:], state.heading_rad[:, 1:])
    ahead_m = state.x_m[:, 1:] - state.x_m[:, :1]
    half_lengths_m = torch.full_like(ahead_m, LENGTH_M)  # half of two vehicles' lengths
    return FarLane(
        present=in_far_lane & (ahead_m > -half_lengths_m),
        ahead_m=ahead_m,
        half_lengths_m=half_lengths_m,
        speed_along_mps=speed_along,
        speed_towards_mps=-away * rightward,
    )
