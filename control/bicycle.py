"""highway-env's kinematic bicycle model, as pure functions.

highway-env's ``Vehicle.step`` integrates the vehicle's centre with a slip angle
``beta = atan(tan(delta) / 2)`` (centre of gravity halfway between the axles) and a yaw rate
``speed * sin(beta) / (length / 2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VEHICLE_LENGTH_M = 5.0  # [m] highway-env Vehicle.LENGTH, also its wheelbase in the model


@dataclass(frozen=True)
class VehicleLimits:
    """Actuation limits the controllers respect."""

    max_acceleration_mps2: float = 3.0  # [m/s2]
    max_braking_mps2: float = 6.0  # [m/s2] positive number
    max_steering_rad: float = math.pi / 4  # [rad] highway-env's ContinuousAction range


def slip_angle(steering_rad: float) -> float:
    """Slip angle at the centre [rad] for a front-wheel steering angle [rad]."""
    return math.atan(0.5 * math.tan(steering_rad))


def steering_for_curvature(curvature_per_m: float, *, length_m: float = VEHICLE_LENGTH_M) -> float:
    """Steering angle [rad] whose steady-state path curvature at the centre is ``curvature_per_m``.

    The centre's path curvature is ``sin(beta) / (length / 2)``; inverting gives beta, then delta.
    """
    sin_beta = max(-0.99, min(0.99, curvature_per_m * length_m / 2))
    return math.atan(2.0 * math.tan(math.asin(sin_beta)))
