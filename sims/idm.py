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

from sims.arrays import at_least, smaller

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


CarFollowing = Literal["idm", "idm_plus"]
CAR_FOLLOWING: dict[CarFollowing, Callable[..., Any]] = {
    "idm": idm_acceleration,
    "idm_plus": idm_plus_acceleration,
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
