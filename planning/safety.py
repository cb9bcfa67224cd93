"""When a lane change is safe: the gap test and the safety layer's checks, written once.

The rule planner (:class:`~planning.rules.RulePlanner`) and the policy executor
(:class:`~planning.rl.executor.PolicyExecutor`) call these with Python floats and numpy arrays for one
scene; the batched engine's safety layer (:mod:`planning.rl.batched_safety`) calls them with torch
tensors for ``B`` scenes. Each caller only finds, in its own representation of the road, the
quantities these functions judge (gaps in the target lane, the vehicles of the lane beyond it).

* :func:`gap_accepted`: MOBIL's safety criterion with minimum gaps: the gap to the new leader is at
  least ``fraction`` times its minimum, the gap to the new follower too, and the new follower, driven
  by highway-env's IDM with the ego as its leader, brakes no harder than the bound over ``fraction``.
* :func:`far_lane_conflict`: a vehicle of the lane beyond the target lane is alongside the ego or less
  than a clearance ahead: it may move into the same gap at the same moment, as highway-env's traffic
  does (its MOBIL does not see an ego that has not yet crossed the line).
* :func:`cut_in`: a vehicle of the lane beyond moves towards the target lane at more than
  :data:`CUT_IN_LATERAL_SPEED_MPS`, alongside the ego or ahead by less than the clearance plus what the
  ego closes on it in :data:`CUT_IN_HORIZON_S`, about the time a lane change takes.
* :func:`safe_following_speed_mps`: the fastest speed from which the ego, reacting after
  :data:`STOPPING_RESPONSE_S` and then braking at :data:`STOPPING_BRAKING_MPS2`, still stops behind a
  leader that brakes at :data:`LEAD_BRAKING_MPS2` now (the stopping check of the policy executor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from sims.arrays import at_least
from sims.idm import IdmParameters, idm_acceleration

CUT_IN_LATERAL_SPEED_MPS = 1.0  # [m/s] towards the target lane; a lane keeper's drift stays below
CUT_IN_HORIZON_S = 3.0  # [s]
TRAFFIC_IDM = IdmParameters()  # highway-env's IDMVehicle: how a new follower in traffic will brake
# The stopping check's worst case (RSS's safe longitudinal distance, Shalev-Shwartz et al. 2017, "On
# a Formal Model of Safe and Scalable Self-driving Cars"): the ego's MPC takes about a second to build
# up its braking (with 0.5 s here the ego still hit the suite's braking and standing cars at 1-3 m/s),
# then brakes at up to 6 m/s2, as hard as the suite's braking leaders.
STOPPING_RESPONSE_S = 1.0  # [s]
STOPPING_BRAKING_MPS2 = 5.0  # [m/s2] what the ego counts on
LEAD_BRAKING_MPS2 = 6.0  # [m/s2] what a leader may do
STOPPING_GAP_M = 2.0  # [m] left between the bumpers once both stand (IDM's jam distance)
# [m/s] RSS's response to a distance found unsafe is to brake at least at its assumed rate: here in
# proportion to the excess speed, at the full rate from this excess on, so that steady following at
# the bound does not alternate between braking hard and not at all.
STOPPING_EXCESS_MPS = 1.0

Array = TypeVar("Array", np.ndarray, torch.Tensor)
# A float, a numpy array or a torch tensor: the same code serves one scene and a batch of them.
# mypy cannot follow the operators across the three, so these are typed as Any.
Quantity = Any


@dataclass(frozen=True)
class GapMargins:
    """What a gap must offer before a lane change starts (``fraction`` 1) or goes on (below 1)."""

    min_front_gap_m: float  # [m] bumper gap to the new leader
    min_rear_gap_m: float  # [m] bumper gap to the new follower
    max_imposed_braking_mps2: float  # [m/s2] how hard the new follower may have to brake


def gap_accepted(
    front_gap_m: Quantity,
    rear_gap_m: Quantity,
    rear_speed_mps: Quantity,
    ego_speed_mps: Quantity,
    *,
    has_front: Quantity,
    has_rear: Quantity,
    fraction: float,
    margins: GapMargins,
) -> Quantity:
    """Whether the target lane's gap is safe to change into; see the module docstring.

    :param front_gap_m: bumper gap to the new leader [m] (any value where ``has_front`` is false).
    :param rear_gap_m: bumper gap to the new follower [m] (any value where ``has_rear`` is false).
    :param rear_speed_mps: the new follower's speed along the lane [m/s].
    :param ego_speed_mps: the ego's speed [m/s].
    :param has_front: a new leader exists.
    :param has_rear: a new follower exists.
    :param fraction: 1 to start a change; the abort fraction to keep one going.
    :param margins: the gaps and the braking bound asked for.
    :return: a numpy bool for scalars, else a bool array of the arguments' shape.
    """
    if not isinstance(has_front, torch.Tensor):
        has_front, has_rear = np.bool_(has_front), np.bool_(has_rear)
    front_ok = ~has_front | (front_gap_m >= fraction * margins.min_front_gap_m)
    follower_mps2 = (
        idm_acceleration(  # the follower is traffic: highway-env's IDM, at its own speed
            rear_speed_mps,
            at_least(rear_speed_mps, 1.0),
            gap_m=rear_gap_m,
            lead_speed_mps=ego_speed_mps,
            parameters=TRAFFIC_IDM,
        )
    )
    rear_ok = ~has_rear | (
        (rear_gap_m >= fraction * margins.min_rear_gap_m)
        & (follower_mps2 >= -margins.max_imposed_braking_mps2 / fraction)
    )
    return front_ok & rear_ok


@dataclass(frozen=True)
class FarLane(Generic[Array]):
    """The vehicles of the lane beyond a target lane, in the target lane's frame: one entry per
    vehicle in the last dimension (numpy for one scene, torch ``(B, N)`` for a batch)."""

    present: Array  # bool: in the lane beyond, alongside the ego or ahead of it
    ahead_m: Array  # [m] station ahead of the ego's, centre to centre
    half_lengths_m: Array  # [m] half the vehicle's length plus half the ego's
    speed_along_mps: Array  # [m/s] along the lane
    speed_towards_mps: Array  # [m/s] across the lane, towards the target lane's centre


def far_lane_conflict(far: FarLane[Array], clearance_m: float) -> Quantity:
    """A vehicle of the lane beyond is alongside the ego or within ``clearance_m`` (bumper gap)
    ahead; one answer per scene."""
    return _any(far.present & (far.ahead_m < clearance_m + far.half_lengths_m))


def cut_in(far: FarLane[Array], ego_speed_mps: Quantity, clearance_m: float) -> Quantity:
    """A vehicle of the lane beyond moves into the target lane, alongside the ego or ahead by less
    than ``clearance_m`` plus what the ego, at ``ego_speed_mps``, closes on it in
    :data:`CUT_IN_HORIZON_S`; one answer per scene (``ego_speed_mps`` broadcasts over vehicles)."""
    closing_mps = at_least(ego_speed_mps - far.speed_along_mps, 0.0)
    reach_m = clearance_m + closing_mps * CUT_IN_HORIZON_S
    moving_in = far.speed_towards_mps > CUT_IN_LATERAL_SPEED_MPS
    return _any(far.present & moving_in & (far.ahead_m < reach_m + far.half_lengths_m))


def _any(flags: Quantity) -> Quantity:
    """Any over the last dimension (the vehicles)."""
    if isinstance(flags, torch.Tensor):
        return flags.any(dim=-1)
    return np.any(flags, axis=-1)


def safe_following_speed_mps(
    gap_m: float,
    lead_speed_mps: float,
    *,
    response_s: float = STOPPING_RESPONSE_S,
    braking_mps2: float = STOPPING_BRAKING_MPS2,
    lead_braking_mps2: float = LEAD_BRAKING_MPS2,
) -> float:
    """The fastest speed [m/s] from which the ego still stops :data:`STOPPING_GAP_M` behind its
    leader if the leader brakes to a stop now: RSS's safe distance
    ``v r + v^2 / (2 b) = gap - stopping gap + v_lead^2 / (2 B)`` solved for ``v`` (the ego's
    acceleration during its response left out).

    :param gap_m: bumper gap to the leader [m].
    :param lead_speed_mps: the leader's speed [m/s].
    :param response_s: how long the ego takes to build up braking [s].
    :param braking_mps2: the ego's braking after that [m/s2].
    :param lead_braking_mps2: the leader's braking [m/s2].
    :return: the speed [m/s].
    """
    reach_m = max(gap_m - STOPPING_GAP_M, 0.0) + max(lead_speed_mps, 0.0) ** 2 / (
        2 * lead_braking_mps2
    )
    return braking_mps2 * (-response_s + float(np.sqrt(response_s**2 + 2 * reach_m / braking_mps2)))


def stopping_acceleration_mps2(speed_mps: float, safe_speed_mps: float) -> float:
    """RSS's proper response above the safe speed: braking in proportion to the excess, at
    :data:`STOPPING_BRAKING_MPS2` from :data:`STOPPING_EXCESS_MPS` on; ``inf`` (no bound) at or
    below it.

    :param speed_mps: the ego's speed [m/s].
    :param safe_speed_mps: :func:`safe_following_speed_mps` [m/s].
    :return: the bound on the ego's acceleration [m/s2].
    """
    excess = speed_mps - safe_speed_mps
    if excess <= 0:
        return math.inf
    return -STOPPING_BRAKING_MPS2 * min(1.0, excess / STOPPING_EXCESS_MPS)
