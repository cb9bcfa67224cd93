"""The Intelligent Driver Model (Treiber, Hennecke & Helbing 2000) and IDM+ as pure functions.

Parameters default to highway-env's ``IDMVehicle`` so the rule-based ego drives like the traffic.
IDM+ (Schakel, van Arem & Netten 2010) takes the smaller of IDM's free-road and interaction terms
instead of their sum: far from its leader the vehicle accelerates as on a free road, instead of
already easing off a hundred metres behind it as IDM does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class IdmParameters:
    """IDM parameters, highway-env's values by default."""

    max_acceleration_mps2: float = 3.0  # [m/s2] highway-env COMFORT_ACC_MAX
    comfortable_deceleration_mps2: float = 5.0  # [m/s2] -COMFORT_ACC_MIN
    time_gap_s: float = 1.5  # [s] TIME_WANTED
    minimum_gap_m: float = 5.0  # [m] DISTANCE_WANTED minus the vehicle length
    exponent: float = 4.0  # DELTA


def idm_acceleration(
    speed_mps: float,
    desired_speed_mps: float,
    *,
    gap_m: float | None = None,
    lead_speed_mps: float | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> float:
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
    speed_mps: float,
    desired_speed_mps: float,
    *,
    gap_m: float | None = None,
    lead_speed_mps: float | None = None,
    parameters: IdmParameters = IdmParameters(),
) -> float:
    """IDM+ acceleration [m/s2]: the smaller of IDM's free-road and interaction terms.

    Arguments as :func:`idm_acceleration`, which this equals on a free road.
    """
    p = parameters
    free = _free_road(speed_mps, desired_speed_mps, p)
    if gap_m is None or lead_speed_mps is None:
        return free
    interaction = 1.0 - _closeness(speed_mps, gap_m, lead_speed_mps, p) ** 2
    return min(free, p.max_acceleration_mps2 * interaction)


CarFollowing = Literal["idm", "idm_plus"]
CAR_FOLLOWING: dict[CarFollowing, Callable[..., float]] = {
    "idm": idm_acceleration,
    "idm_plus": idm_plus_acceleration,
}


def check_car_following(name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the valid models unless it is one of them."""
    if name not in CAR_FOLLOWING:
        raise ValueError(f"car_following {name!r} is not one of {sorted(CAR_FOLLOWING)}")


def _free_road(speed_mps: float, desired_speed_mps: float, p: IdmParameters) -> float:
    return p.max_acceleration_mps2 * (1.0 - (max(speed_mps, 0.0) / desired_speed_mps) ** p.exponent)


def _closeness(speed_mps: float, gap_m: float, lead_speed_mps: float, p: IdmParameters) -> float:
    """Desired gap over actual gap."""
    closing_mps = speed_mps - lead_speed_mps
    desired_gap_m = p.minimum_gap_m + max(
        0.0,
        speed_mps * p.time_gap_s
        + speed_mps
        * closing_mps
        / (2.0 * math.sqrt(p.max_acceleration_mps2 * p.comfortable_deceleration_mps2)),
    )
    return desired_gap_m / max(gap_m, 0.1)
