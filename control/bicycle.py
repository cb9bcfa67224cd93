"""highway-env's kinematic bicycle model, as pure functions.

highway-env's ``Vehicle.step`` integrates the vehicle's centre with a slip angle
``beta = atan(tan(delta) / 2)`` (centre of gravity halfway between the axles) and a yaw rate
``speed * sin(beta) / (length / 2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sims.constants import STEERING_LIMIT_RAD, VEHICLE_LENGTH_M


@dataclass(frozen=True)
class VehicleLimits:
    """Actuation limits the controllers respect."""

    max_acceleration_mps2: float = 3.0  # [m/s2]
    max_braking_mps2: float = 6.0  # [m/s2] positive number
    max_steering_rad: float = STEERING_LIMIT_RAD  # [rad] highway-env's ContinuousAction range


def slip_angle(steering_rad: float) -> float:
    """Slip angle at the centre [rad] for a front-wheel steering angle [rad]."""
    return math.atan(0.5 * math.tan(steering_rad))


def steering_for_curvature(curvature_per_m: float, *, length_m: float = VEHICLE_LENGTH_M) -> float:
    """Steering angle [rad] whose steady-state path curvature at the centre is ``curvature_per_m``.

    The centre's path curvature is ``sin(beta) / (length / 2)``; inverting gives beta, then delta.
    """
    sin_beta = max(-0.99, min(0.99, curvature_per_m * length_m / 2))
    return math.atan(2.0 * math.tan(math.asin(sin_beta)))


@dataclass(frozen=True)
class BicycleState:
    """Pose and speed of highway-env's kinematic bicycle (reference point: the vehicle's centre)."""

    x_m: float
    y_m: float
    heading_rad: float
    speed_mps: float


def bicycle_step(
    state: BicycleState,
    *,
    acceleration_mps2: float,
    steering_rad: float,
    dt_s: float,
    length_m: float = VEHICLE_LENGTH_M,
) -> BicycleState:
    """One Euler step of highway-env's ``Vehicle.step`` (without its speed clipping at +-40 m/s).

    :return: the state after ``dt_s`` seconds.
    """
    beta = slip_angle(steering_rad)
    return BicycleState(
        x_m=state.x_m + state.speed_mps * math.cos(state.heading_rad + beta) * dt_s,
        y_m=state.y_m + state.speed_mps * math.sin(state.heading_rad + beta) * dt_s,
        heading_rad=state.heading_rad + state.speed_mps * math.sin(beta) / (length_m / 2) * dt_s,
        speed_mps=state.speed_mps + acceleration_mps2 * dt_s,
    )


def bicycle_jacobians(
    state: BicycleState,
    *,
    acceleration_mps2: float,
    steering_rad: float,
    dt_s: float,
    length_m: float = VEHICLE_LENGTH_M,
) -> tuple[list[list[float]], list[list[float]]]:
    """Jacobians of :func:`bicycle_step` w.r.t. the state (x, y, heading, speed) and the input
    (acceleration, steering), for linearising the model.

    :return: ``(A, B)`` as 4x4 and 4x2 nested lists.
    """
    beta = slip_angle(steering_rad)
    angle = state.heading_rad + beta
    v, half = state.speed_mps, length_m / 2
    # d(beta)/d(delta) for beta = atan(tan(delta) / 2)
    tan_delta = math.tan(steering_rad)
    dbeta = 0.5 * (1 + tan_delta**2) / (1 + 0.25 * tan_delta**2)
    a_matrix = [
        [1.0, 0.0, -v * math.sin(angle) * dt_s, math.cos(angle) * dt_s],
        [0.0, 1.0, v * math.cos(angle) * dt_s, math.sin(angle) * dt_s],
        [0.0, 0.0, 1.0, math.sin(beta) / half * dt_s],
        [0.0, 0.0, 0.0, 1.0],
    ]
    b_matrix = [
        [0.0, -v * math.sin(angle) * dbeta * dt_s],
        [0.0, v * math.cos(angle) * dbeta * dt_s],
        [0.0, v * math.cos(beta) / half * dbeta * dt_s],
        [dt_s, 0.0],
    ]
    return a_matrix, b_matrix
