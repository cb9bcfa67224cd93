"""The Intelligent Driver Model (Treiber, Hennecke & Helbing 2000) and IDM+ as pure functions.

Written once for every caller: the rule planner and the policy executor pass Python floats, the
batched engine and its safety layer pass torch tensors of any shared shape (numpy arrays work too).
For floats every operation is the one the scalar code always did, so the rule planner drives bit for
bit as before. The batched engine's traffic keeps highway-env's own form of IDM
(:mod:`sims.batched.physics`, centre-to-centre gaps); it takes IDM+'s rule from :func:`idm_plus_rule`.

Parameters default to highway-env's ``IDMVehicle`` so the rule-based ego drives like the traffic.
IDM+ (Schakel, van Arem & Netten 2010) takes the smaller of IDM's free-road and interaction terms
instead of their sum: far from its leader the vehicle accelerates as on a free road, instead of
already easing off a hundred metres behind it as IDM does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from sims.arrays import at_least, hyperbolic_tangent, smaller, where

Value = TypeVar("Value", float, np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class IdmParameters:
    """IDM parameters, highway-env's values by default."""

    max_acceleration_mps2: float = 3.0  # [m/s2] highway-env COMFORT_ACC_MAX
    comfortable_deceleration_mps2: float = 5.0  # [m/s2] -COMFORT_ACC_MIN
    time_gap_s: float = 1.5  # [s] TIME_WANTED
    minimum_gap_m: float = 5.0  # [m] DISTANCE_WANTED minus the vehicle length
    exponent: float = 4.0  # DELTA


def idm_acceleration(
    speed_mps: Value,
    desired_speed_mps: Value,
    *,
    gap_m: Value | None = None,
    lead_speed_mps: Value | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> Value:
    """IDM acceleration [m/s2] of a vehicle behind a leader (or on a free road if ``gap_m`` is None).

    :param speed_mps: own speed [m/s].
    :param desired_speed_mps: free-road desired speed [m/s], > 0.
    :param gap_m: bumper-to-bumper distance to the leader [m].
    :param lead_speed_mps: the leader's speed [m/s].
    :param parameters: IDM parameters.
    :return: the acceleration [m/s2]; unbounded below when the gap is small.
    """
    p = parameters
    free = _free_road(speed_mps, desired_speed_mps, p)
    if gap_m is None or lead_speed_mps is None:
        return free
    return free - p.max_acceleration_mps2 * _closeness(speed_mps, gap_m, lead_speed_mps, p) ** 2


def idm_plus_acceleration(
    speed_mps: Value,
    desired_speed_mps: Value,
    *,
    gap_m: Value | None = None,
    lead_speed_mps: Value | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> Value:
    """IDM+ acceleration [m/s2]: the smaller of IDM's free-road and interaction terms.

    Arguments as :func:`idm_acceleration`, which this equals on a free road.
    """
    p = parameters
    free = _free_road(speed_mps, desired_speed_mps, p)
    if gap_m is None or lead_speed_mps is None:
        return free
    closeness = _closeness(speed_mps, gap_m, lead_speed_mps, p)
    return idm_plus_rule(free, closeness, p.max_acceleration_mps2)


def idm_plus_rule(free_mps2: Value, closeness: Value, max_acceleration_mps2: float) -> Value:
    """IDM+'s rule: the free-road term or ``a (1 - closeness^2)``, whichever is smaller [m/s2].

    :param free_mps2: IDM's free-road term [m/s2].
    :param closeness: desired gap over actual gap.
    :param max_acceleration_mps2: IDM's ``a`` [m/s2].
    """
    interaction = 1.0 - closeness**2
    return smaller(free_mps2, max_acceleration_mps2 * interaction)


COOLNESS = 0.99  # the ACC model's coolness factor c (Treiber & Kesting 2013, section 11.3.7)
ACC_BRAKING_MPS2 = 3.5  # [m/s2] the ACC models' comfortable braking: under nuPlan's 4.05 bound


def acc_rule(
    idm_mps2: Value,
    speed_mps: Value,
    gap_m: Value,
    lead_speed_mps: Value,
    comfortable_deceleration_mps2: float = ACC_BRAKING_MPS2,
) -> Value:
    """The ACC model's rule over an IDM acceleration [m/s2] (Kesting, Treiber & Helbing 2010).

    IDM over-reacts when a gap is short but not closing, as when a car cuts in ahead at our speed:
    it brakes far harder than the kinematics need. The ACC model compares IDM with the constant-
    acceleration heuristic (CAH: the braking that just matches the leader's speed at zero gap, the
    leader's own acceleration taken as 0), and where IDM brakes harder it blends towards the CAH:
    the result lies between the two, at most about ``b`` below the CAH. Where IDM brakes less than
    the CAH, it is kept (its own anticipation copes).

    :param idm_mps2: IDM's (or IDM+'s) acceleration [m/s2].
    :param speed_mps: own speed [m/s].
    :param gap_m: bumper-to-bumper gap to the leader [m].
    :param lead_speed_mps: the leader's speed [m/s].
    :param comfortable_deceleration_mps2: the ``b`` of the blend [m/s2].
    :return: the acceleration [m/s2].
    """
    closing = at_least(speed_mps - lead_speed_mps, 0.0)
    cah = -(closing**2) / (2.0 * at_least(gap_m, 0.1))
    b = comfortable_deceleration_mps2
    blended = (1.0 - COOLNESS) * idm_mps2 + COOLNESS * (
        cah + b * hyperbolic_tangent((idm_mps2 - cah) / b)
    )
    return where(idm_mps2 >= cah, idm_mps2, blended)


def idm_acc_acceleration(
    speed_mps: Value,
    desired_speed_mps: Value,
    *,
    gap_m: Value | None = None,
    lead_speed_mps: Value | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> Value:
    """The ACC model over IDM [m/s2]: IDM with :func:`gentle_free_road` and :func:`acc_rule`;
    arguments as :func:`idm_acceleration`."""
    return _acc_over(idm_rule, speed_mps, desired_speed_mps, gap_m, lead_speed_mps, parameters)


def idm_plus_acc_acceleration(
    speed_mps: Value,
    desired_speed_mps: Value,
    *,
    gap_m: Value | None = None,
    lead_speed_mps: Value | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> Value:
    """The ACC model over IDM+ [m/s2], as :func:`idm_acc_acceleration` is over IDM."""
    return _acc_over(idm_plus_rule, speed_mps, desired_speed_mps, gap_m, lead_speed_mps, parameters)


def idm_rule(free_mps2: Value, closeness: Value, max_acceleration_mps2: float) -> Value:
    """IDM's rule: the free-road term less ``a closeness^2`` [m/s2] (:func:`idm_plus_rule`'s
    arguments)."""
    return free_mps2 - max_acceleration_mps2 * closeness**2


def _acc_over(
    rule: Callable[[Value, Value, float], Value],
    speed_mps: Value,
    desired_speed_mps: Value,
    gap_m: Value | None,
    lead_speed_mps: Value | None,
    p: IdmParameters,
) -> Value:
    free = gentle_free_road(speed_mps, desired_speed_mps, p)
    if gap_m is None or lead_speed_mps is None:
        return free
    following = rule(free, _closeness(speed_mps, gap_m, lead_speed_mps, p), p.max_acceleration_mps2)
    return acc_rule(following, speed_mps, gap_m, lead_speed_mps)


def gentle_free_road(speed_mps: Value, desired_speed_mps: Value, p: IdmParameters) -> Value:
    """IDM's free-road term, braking no harder than :data:`ACC_BRAKING_MPS2` above the desired
    speed [m/s2].

    Above the desired speed IDM brakes ever harder (-9 m/s2 at 1.5 times it with highway-env's
    parameters); the improved IDM (Treiber & Kesting 2013, section 11.3.5) brakes at most ``b`` but
    eases off so early that it stays over a new speed limit for seconds. This keeps IDM's term,
    floored: a comfortable, steady slow-down that eases off near the desired speed.
    """
    return at_least(_free_road(speed_mps, desired_speed_mps, p), -ACC_BRAKING_MPS2)


CarFollowing = Literal["idm", "idm_plus", "idm_acc", "idm_plus_acc"]
CAR_FOLLOWING: dict[CarFollowing, Callable[..., Any]] = {
    "idm": idm_acceleration,
    "idm_plus": idm_plus_acceleration,
    "idm_acc": idm_acc_acceleration,
    "idm_plus_acc": idm_plus_acc_acceleration,
}


def check_car_following(name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the valid models unless it is one of them."""
    if name not in CAR_FOLLOWING:
        raise ValueError(f"car_following {name!r} is not one of {sorted(CAR_FOLLOWING)}")


def _free_road(speed_mps: Value, desired_speed_mps: Value, p: IdmParameters) -> Value:
    return p.max_acceleration_mps2 * (
        1.0 - (at_least(speed_mps, 0.0) / desired_speed_mps) ** p.exponent
    )


def _closeness(speed_mps: Value, gap_m: Value, lead_speed_mps: Value, p: IdmParameters) -> Value:
    """Desired gap over actual gap."""
    closing_mps = speed_mps - lead_speed_mps
    desired_gap_m = p.minimum_gap_m + at_least(
        speed_mps * p.time_gap_s
        + speed_mps
        * closing_mps
        / (2.0 * math.sqrt(p.max_acceleration_mps2 * p.comfortable_deceleration_mps2)),
        0.0,
    )
    return desired_gap_m / at_least(gap_m, 0.1)
