"""highway-env's vehicle models as pure torch functions over batches of vehicles.

Every function mirrors one method of highway-env 1.12 (named in its docstring) and keeps that method's
order of operations, so that in float64 the batched engine matches highway-env to rounding error.
Arguments are tensors of any shared shape; nothing here knows about environments or lanes' layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from sims.constants import MAX_STEERING_RAD, VEHICLE_LENGTH_M, VEHICLE_WIDTH_M
from sims.idm import CarFollowing, check_car_following, idm_plus_rule

# Kinematics (highway_env.vehicle.kinematics.Vehicle)
LENGTH_M = VEHICLE_LENGTH_M  # [m] short names for this module's formulas
WIDTH_M = VEHICLE_WIDTH_M  # [m]
HALF_DIAGONAL_M = math.sqrt(LENGTH_M**2 + WIDTH_M**2) / 2  # [m]
MAX_SPEED_MPS = 40.0  # [m/s]
MIN_SPEED_MPS = -40.0  # [m/s]

# Low-level control (highway_env.vehicle.controller.ControlledVehicle)
TAU_ACC_S = 0.6  # [s]
TAU_HEADING_S = 0.2  # [s]
TAU_LATERAL_S = 0.6  # [s]
TAU_PURSUIT_S = 0.5 * TAU_HEADING_S  # [s]

# IDM and MOBIL (highway_env.vehicle.behavior.IDMVehicle)
ACC_MAX_MPS2 = 6.0  # [m/s2]
COMFORT_ACC_MAX_MPS2 = 3.0  # [m/s2]
COMFORT_ACC_MIN_MPS2 = -5.0  # [m/s2]
DISTANCE_WANTED_M = 5.0 + LENGTH_M  # [m]
TIME_WANTED_S = 1.5  # [s]
LANE_CHANGE_MIN_ACC_GAIN_MPS2 = 0.2  # [m/s2]
LANE_CHANGE_MAX_BRAKING_IMPOSED_MPS2 = 2.0  # [m/s2]
LANE_CHANGE_DELAY_S = 1.0  # [s]

NOT_ZERO_EPS = 1e-2  # highway_env.utils.not_zero's default


@dataclass(frozen=True)
class IdmConstants:
    """The IDM constants of a road's traffic: highway-env's by default. intersection-v0 sets others
    on its traffic's class (a shorter jam distance, harder acceleration, softer braking)."""

    comfort_acc_max_mps2: float = COMFORT_ACC_MAX_MPS2
    comfort_acc_min_mps2: float = COMFORT_ACC_MIN_MPS2
    distance_wanted_m: float = DISTANCE_WANTED_M


HIGHWAY_ENV_IDM = IdmConstants()


ENGINE_CAR_FOLLOWING = ("idm", "idm_plus")
"""The car following an engine's ego can drive, highway-env's two forms; the ACC models of
:mod:`sims.idm` drive the rule planner and highway-env's executor only."""


def engine_car_following(name: str) -> Literal["idm", "idm_plus"]:
    """``name`` if an engine's ego can drive that car following; else ``ValueError`` naming it."""
    if name == "idm":
        return "idm"
    if name == "idm_plus":
        return "idm_plus"
    raise ValueError(
        f"the batched engine's ego follows with {' or '.join(ENGINE_CAR_FOLLOWING)}, not {name!r} "
        "(train with it in highway-env)"
    )


@dataclass(frozen=True)
class EgoFollowing:
    """How an ego that follows (the planning executor's) drives behind its leader, where it differs
    from the traffic: its IDM time gap and its model, highway-env's IDM or IDM+
    (:func:`sims.idm.idm_plus_rule`: the smaller of the two IDM terms wins). It applies to the ego's
    own acceleration only; a vehicle's MOBIL predicts how the ego, as its new follower, would brake
    with the asking vehicle's constants, as highway-env predicts."""

    time_gap_s: float = TIME_WANTED_S  # [s]
    car_following: CarFollowing = "idm"

    def __post_init__(self) -> None:
        check_car_following(self.car_following)
        engine_car_following(self.car_following)
        if not self.time_gap_s > 0:
            raise ValueError(f"time_gap_s must be positive, got {self.time_gap_s}")


TRAFFIC_FOLLOWING = EgoFollowing()  # the ego follows as the traffic does


def ego_time_gap_s(is_ego: Tensor, following: EgoFollowing | None) -> Tensor | float:
    """The IDM time gap [s] of each vehicle asked about: the following ego's own where ``is_ego``,
    the traffic's elsewhere (a float when they are the same)."""
    if following is None or following.time_gap_s == TIME_WANTED_S:
        return TIME_WANTED_S
    return torch.where(is_ego, following.time_gap_s, TIME_WANTED_S)


def ego_model_acceleration_mps2(
    acceleration_mps2: Tensor,
    terms: tuple[Tensor, Tensor, Tensor, float, Tensor, Tensor, Tensor],
    is_ego: Tensor,
    following: EgoFollowing | None,
    *,
    constants: IdmConstants = HIGHWAY_ENV_IDM,
) -> Tensor:
    """IDM's ``acceleration_mps2``, with IDM+ on the same ``terms`` (the arguments of
    :func:`idm_acceleration_mps2`) where ``is_ego`` and the following ego drives IDM+."""
    if following is None or following.car_following != "idm_plus":
        return acceleration_mps2
    plus = idm_plus_acceleration_mps2(*terms, constants=constants)
    return torch.where(is_ego, plus, acceleration_mps2)


def not_zero(value: Tensor) -> Tensor:
    """``utils.not_zero``: ``value`` pushed away from zero to at least ``NOT_ZERO_EPS``."""
    small = torch.where(value >= 0, NOT_ZERO_EPS, -NOT_ZERO_EPS).to(value.dtype)
    return torch.where(value.abs() > NOT_ZERO_EPS, value, small)


def lmap(
    value: Tensor,
    source: tuple[float | Tensor, float | Tensor],
    target: tuple[float, float] = (0.0, 1.0),
) -> Tensor:
    """``utils.lmap``: ``value`` mapped linearly from the range ``source`` (numbers or tensors that
    broadcast with it) onto ``target``, in highway-env's order of operations."""
    (low, high), (to_low, to_high) = source, target
    return to_low + (value - low) * (to_high - to_low) / (high - low)


def wrap_to_pi(angle: Tensor) -> Tensor:
    """``utils.wrap_to_pi``, with Python's floored modulo: written with ``floor``, since compiled
    CPU code runs ``torch.remainder`` about five times slower (issue 29); within rounding of it."""
    shifted = angle + math.pi
    return shifted - (2 * math.pi) * torch.floor(shifted / (2 * math.pi)) - math.pi


def desired_gap_m(
    speed_mps: Tensor,
    cos: Tensor,
    sin: Tensor,
    front_speed_mps: Tensor,
    front_cos: Tensor,
    front_sin: Tensor,
    time_wanted_s: Tensor | float = TIME_WANTED_S,
    *,
    constants: IdmConstants = HIGHWAY_ENV_IDM,
) -> Tensor:
    """``IDMVehicle.desired_gap`` (projected), from each vehicle's speed and heading's cosine and sine [m]."""
    relative_vx = speed_mps * cos - front_speed_mps * front_cos
    relative_vy = speed_mps * sin - front_speed_mps * front_sin
    closing_mps = relative_vx * cos + relative_vy * sin
    braking = 2 * math.sqrt(-constants.comfort_acc_max_mps2 * constants.comfort_acc_min_mps2)
    return (
        constants.distance_wanted_m + speed_mps * time_wanted_s + speed_mps * closing_mps / braking
    )


def idm_acceleration_mps2(
    speed_mps: Tensor,
    target_speed_mps: Tensor,
    delta: Tensor,
    speed_limit_mps: float,
    gap_m: Tensor,
    desired_gap_m: Tensor,
    has_front: Tensor,
    *,
    constants: IdmConstants = HIGHWAY_ENV_IDM,
) -> Tensor:
    """``IDMVehicle.acceleration``: free-road term, minus the interaction term where a front exists.

    ``delta`` is the exponent of the vehicle *asking* (highway-env uses ``self.DELTA`` even when it
    evaluates another vehicle), and ``gap_m`` the front's longitudinal distance along the lane.
    """
    target = target_speed_mps.clamp(0, speed_limit_mps)
    # x ** delta as exp(delta log x): equal to rounding error, and vectorised where compiled
    # (a compiled ``pow`` with a tensor exponent is several times slower). 0 ** delta stays 0.
    ratio = speed_mps.clamp(min=0) / not_zero(target).abs()
    free = constants.comfort_acc_max_mps2 * (1 - torch.exp(delta * torch.log(ratio)))
    closeness = desired_gap_m / not_zero(gap_m)
    interaction = constants.comfort_acc_max_mps2 * closeness * closeness
    return torch.where(has_front, free - interaction, free)


def idm_plus_acceleration_mps2(
    speed_mps: Tensor,
    target_speed_mps: Tensor,
    delta: Tensor,
    speed_limit_mps: float,
    gap_m: Tensor,
    desired_gap_m: Tensor,
    has_front: Tensor,
    *,
    constants: IdmConstants = HIGHWAY_ENV_IDM,
) -> Tensor:
    """IDM+ on highway-env's IDM terms: :func:`sims.idm.idm_plus_rule` (the one copy of IDM+'s
    rule) of :func:`idm_acceleration_mps2`'s free-road term and closeness; arguments as there."""
    no_front = torch.zeros_like(has_front)
    free = idm_acceleration_mps2(
        speed_mps,
        target_speed_mps,
        delta,
        speed_limit_mps,
        gap_m,
        desired_gap_m,
        no_front,
        constants=constants,
    )
    closeness = desired_gap_m / not_zero(gap_m)
    plus = idm_plus_rule(free, closeness, constants.comfort_acc_max_mps2)
    return torch.where(has_front, plus, free)


def steering_control_rad(
    lateral_offset_m: Tensor,
    speed_mps: Tensor,
    heading_rad: Tensor,
    lane_heading_rad: Tensor | float,
) -> Tensor:
    """``ControlledVehicle.steering_control``, from the offset to the lane's centre and the lane's
    heading ahead (highway-env's pursuit point; 0 on the engine's straight road). The one copy of
    highway-env's steering law: the ``builtin`` controller calls it with a batch of one."""
    lateral_speed_command = -(1 / TAU_LATERAL_S) * lateral_offset_m
    speed = not_zero(speed_mps)
    heading_command = torch.arcsin((lateral_speed_command / speed).clamp(-1, 1))
    heading_reference = lane_heading_rad + heading_command.clamp(-math.pi / 4, math.pi / 4)
    heading_rate_command = (1 / TAU_HEADING_S) * wrap_to_pi(heading_reference - heading_rad)
    # highway-env's arctan(2 tan(arcsin(s))), with tan(arcsin(s)) = s / sqrt(1 - s^2): equal to
    # rounding error, and two fewer transcendental functions, which dominate this step's cost.
    sine = (LENGTH_M / 2 / speed * heading_rate_command).clamp(-1, 1)
    steering = torch.arctan(2 * sine / torch.sqrt(1 - sine * sine))
    return steering.clamp(-MAX_STEERING_RAD, MAX_STEERING_RAD)


def speed_control_mps2(target_speed_mps: Tensor, speed_mps: Tensor) -> Tensor:
    """``ControlledVehicle.speed_control``: a proportional speed controller [m/s2]."""
    return (1 / TAU_ACC_S) * (target_speed_mps - speed_mps)


def clip_acceleration_mps2(acceleration_mps2: Tensor, speed_mps: Tensor, crashed: Tensor) -> Tensor:
    """``Vehicle.clip_actions`` on the acceleration: crashed vehicles brake to a stop, speed is bounded."""
    acceleration = torch.where(crashed, -speed_mps, acceleration_mps2)
    fast = speed_mps > MAX_SPEED_MPS
    slow = speed_mps < MIN_SPEED_MPS
    acceleration = torch.where(
        fast, torch.minimum(acceleration, MAX_SPEED_MPS - speed_mps), acceleration
    )
    return torch.where(slow, torch.maximum(acceleration, MIN_SPEED_MPS - speed_mps), acceleration)


def bicycle_step(
    x_m: Tensor,
    y_m: Tensor,
    heading_rad: Tensor,
    speed_mps: Tensor,
    steering_rad: Tensor,
    acceleration_mps2: Tensor,
    dt_s: float | Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``Vehicle.step``: the kinematic bicycle, integrated with one explicit Euler step of
    ``dt_s`` [s] (a number, or a tensor that broadcasts).

    The slip angle ``beta = arctan(tan(steering) / 2)`` enters through its cosine and sine, and
    the heading plus slip through the angle-addition formulas: equal to highway-env's to rounding
    error, with three transcendental functions instead of five.

    :return: the new x [m], y [m], heading [rad] and speed [m/s].
    """
    heading_cos, heading_sin = torch.cos(heading_rad), torch.sin(heading_rad)
    half_tan = 0.5 * torch.tan(steering_rad)
    beta_cos = 1 / torch.sqrt(1 + half_tan * half_tan)
    beta_sin = half_tan * beta_cos
    x_m = x_m + speed_mps * (heading_cos * beta_cos - heading_sin * beta_sin) * dt_s
    y_m = y_m + speed_mps * (heading_sin * beta_cos + heading_cos * beta_sin) * dt_s
    heading_rad = heading_rad + speed_mps * beta_sin / (LENGTH_M / 2) * dt_s
    speed_mps = speed_mps + acceleration_mps2 * dt_s
    return x_m, y_m, heading_rad, speed_mps


def box_collisions(
    delta_x_m: Tensor,
    delta_y_m: Tensor,
    heading_a_rad: Tensor,
    heading_b_rad: Tensor,
    displacement_a: tuple[Tensor, Tensor],
    displacement_b: tuple[Tensor, Tensor],
    *,
    size_a_m: tuple[Tensor | float, Tensor | float] = (LENGTH_M, WIDTH_M),
    size_b_m: tuple[Tensor | float, Tensor | float] = (LENGTH_M, WIDTH_M),
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``utils.are_polygons_intersecting`` for two boxes (separating-axis test): vehicles by
    default, or any (length, width) [m] (a road object's).

    ``delta`` is the centre of box ``a`` minus the centre of box ``b``; displacements are each box's
    velocity times the time step. Axes come in highway-env's order (the edge normals of ``a``, then of
    ``b``), and the translation is taken along the first axis of least overlap, as there.

    :return: intersecting, will intersect, and the translation (x, y) [m] that separates ``a``.
    """
    normals = []
    for heading in (heading_a_rad, heading_b_rad):
        cos, sin = torch.cos(heading), torch.sin(heading)
        # The edge normals of highway-env's polygon, in its corner order: -u, v, u, -v.
        normals += [(-cos, -sin), (-sin, cos), (cos, sin), (sin, -cos)]
    cos_a, sin_a = torch.cos(heading_a_rad), torch.sin(heading_a_rad)
    cos_b, sin_b = torch.cos(heading_b_rad), torch.sin(heading_b_rad)
    relative_dx = displacement_a[0] - displacement_b[0]
    relative_dy = displacement_a[1] - displacement_b[1]
    intersecting = torch.ones_like(delta_x_m, dtype=torch.bool)
    will_intersect = torch.ones_like(intersecting)
    distances, axes = [], []
    for normal_x, normal_y in normals:
        half_a = (
            size_a_m[0] / 2 * (cos_a * normal_x + sin_a * normal_y).abs()
            + size_a_m[1] / 2 * (-sin_a * normal_x + cos_a * normal_y).abs()
        )
        half_b = (
            size_b_m[0] / 2 * (cos_b * normal_x + sin_b * normal_y).abs()
            + size_b_m[1] / 2 * (-sin_b * normal_x + cos_b * normal_y).abs()
        )
        centre = delta_x_m * normal_x + delta_y_m * normal_y  # a's centre, with b's at zero
        min_a, max_a, min_b, max_b = centre - half_a, centre + half_a, -half_b, half_b
        intersecting &= _interval_distance(min_a, max_a, min_b, max_b) <= 0
        velocity = normal_x * relative_dx + normal_y * relative_dy
        min_a = torch.where(velocity < 0, min_a + velocity, min_a)
        max_a = torch.where(velocity < 0, max_a, max_a + velocity)
        distance = _interval_distance(min_a, max_a, min_b, max_b)
        will_intersect &= distance <= 0
        sign = torch.where(centre > 0, 1.0, -1.0).to(delta_x_m.dtype)
        distances.append(distance.abs())
        axes.append((sign * normal_x, sign * normal_y))
    stacked = torch.stack(distances)
    best = stacked.argmin(dim=0, keepdim=True)
    least = stacked.gather(0, best)[0]
    axis_x = torch.stack([axis[0] for axis in axes]).gather(0, best)[0]
    axis_y = torch.stack([axis[1] for axis in axes]).gather(0, best)[0]
    return intersecting, will_intersect, least * axis_x, least * axis_y


def _interval_distance(min_a: Tensor, max_a: Tensor, min_b: Tensor, max_b: Tensor) -> Tensor:
    """``utils.interval_distance``: the gap between two intervals, negative when they overlap."""
    return torch.where(min_a < min_b, min_b - max_a, min_a - max_b)
