"""Plants: the simulated car the controller drives, which may differ from highway-env's vehicle.

highway-env's vehicle is the kinematic bicycle the MPC's model copies exactly. Real cars differ: their
actuators lag, their wheelbase is not the model's, their steering is off-centre. A plant here is
highway-env's vehicle with such differences, chosen by name per scenario (``plant = "lagged"``) or
with ``--plant NAME``; ``highway-env`` (the default) leaves highway-env's vehicle untouched.

A plant changes only the ego's ``step``: each actuator follows its command through a first-order lag
(time constant ``*_lag_s``), a steering bias is added at the wheel, and the yaw rate uses the plant's
wheelbase. Collision box and rendering stay those of highway-env's vehicle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from highway_env.vehicle.kinematics import Vehicle

from sims.constants import VEHICLE_LENGTH_M
from sims.strict import ConfigError

DEFAULT_PLANT = "highway-env"

Number = TypeVar("Number")  # a float, a numpy array or a torch tensor


@dataclass(frozen=True)
class Plant:
    """How the simulated ego differs from highway-env's kinematic bicycle.

    :param description: one line for listings.
    :param acceleration_lag_s: first-order time constant of the acceleration actuator [s]; 0: none.
    :param steering_lag_s: first-order time constant of the steering actuator [s]; 0: none.
    :param wheelbase_scale: the plant's wheelbase over highway-env's (its vehicle length).
    :param steering_bias_rad: added to the lagged steering angle at the wheel [rad].
    """

    description: str
    acceleration_lag_s: float = 0.0
    steering_lag_s: float = 0.0
    wheelbase_scale: float = 1.0
    steering_bias_rad: float = 0.0

    def __post_init__(self) -> None:
        if self.acceleration_lag_s < 0 or self.steering_lag_s < 0:
            raise ValueError("actuator lags must be >= 0 s")
        if not 0.5 <= self.wheelbase_scale <= 2.0:
            raise ValueError(f"wheelbase_scale must be in [0.5, 2], got {self.wheelbase_scale}")
        if abs(self.steering_bias_rad) > 0.1:
            raise ValueError(f"|steering_bias_rad| must be <= 0.1, got {self.steering_bias_rad}")

    @property
    def is_nominal(self) -> bool:
        """Whether this plant is highway-env's vehicle itself."""
        return self == Plant(description=self.description)

    @property
    def wheelbase_m(self) -> float:
        """The plant's wheelbase [m]."""
        return VEHICLE_LENGTH_M * self.wheelbase_scale


PLANTS: dict[str, Plant] = {
    DEFAULT_PLANT: Plant(description="highway-env's own vehicle: the MPC's model, exactly"),
    "lagged": Plant(
        description="0.3 s first-order lag on both actuators, wheelbase +20%",
        acceleration_lag_s=0.3,
        steering_lag_s=0.3,
        wheelbase_scale=1.2,
    ),
    "long-wheelbase": Plant(description="wheelbase +20%", wheelbase_scale=1.2),
    "steering-bias": Plant(description="steering off-centre by 0.01 rad", steering_bias_rad=0.01),
}


def plant_named(name: str) -> Plant:
    """The plant registered as ``name``.

    :raises ConfigError: for an unknown name, listing the valid ones.
    """
    if name not in PLANTS:
        raise ConfigError(f"unknown plant '{name}'; valid: {', '.join(PLANTS)}")
    return PLANTS[name]


def lag_factor(time_constant_s: float, dt_s: float) -> float:
    """The fraction of the gap to its command a first-order actuator closes in one step of ``dt_s``.

    :param time_constant_s: the lag's time constant [s]; 0 means no lag (factor 1).
    :param dt_s: the step [s].
    :return: ``1 - exp(-dt / tau)``, in (0, 1].
    """
    return 1.0 if time_constant_s <= 0 else 1.0 - math.exp(-dt_s / time_constant_s)


def first_order_lag(applied: Number, command: Number, factor: Number) -> Number:
    """One step of a first-order actuator: the applied value moves ``factor`` of the way to the
    command. Arithmetic only, so the plant, the learned model (torch) and the controller's observer
    (numpy) share it.

    :param applied: the value applied last step.
    :param command: the value commanded now.
    :param factor: :func:`lag_factor` of the actuator.
    :return: the value applied this step.
    """
    return applied + factor * (command - applied)  # type: ignore[operator]


class PlantVehicle(Vehicle):
    """highway-env's ``Vehicle`` whose ``step`` integrates a :class:`Plant`.

    Made from highway-env's ego by :func:`install_plant`, so that the road, the action type and the
    environment keep the object they created.
    """

    plant: Plant
    applied_acceleration_mps2: float
    applied_steering_rad: float

    def step(self, dt: float) -> None:
        """highway-env's ``Vehicle.step`` with lagged actuators, a steering bias and the plant's
        wheelbase (see the module docstring).

        :param dt: the simulation step [s].
        """
        self.clip_actions()  # highway-env's crash and speed-range overrides, on the command
        plant = self.plant
        self.applied_acceleration_mps2 = first_order_lag(
            self.applied_acceleration_mps2,
            self.action["acceleration"],
            lag_factor(plant.acceleration_lag_s, dt),
        )
        self.applied_steering_rad = first_order_lag(
            self.applied_steering_rad,
            self.action["steering"],
            lag_factor(plant.steering_lag_s, dt),
        )
        beta = np.arctan(0.5 * np.tan(self.applied_steering_rad + plant.steering_bias_rad))
        self.position += (
            self.speed * np.array([np.cos(self.heading + beta), np.sin(self.heading + beta)]) * dt
        )
        impact = self.impact  # type: ignore[has-type]  # highway-env leaves it untyped
        if impact is not None:
            self.position += impact
            self.crashed = True
            self.impact = None
        self.heading += self.speed * np.sin(beta) / (plant.wheelbase_m / 2) * dt
        self.speed += self.applied_acceleration_mps2 * dt
        self.on_state_update()


def install_plant(vehicle: Vehicle, name: str) -> Vehicle:
    """Make highway-env's ego ``vehicle`` drive as the plant ``name`` (in place); the default plant
    leaves it untouched.

    :param vehicle: the ego, as highway-env created it for ``ContinuousAction``.
    :param name: a name of :data:`PLANTS`.
    :return: the same object.
    :raises ConfigError: for an unknown plant, or an ego of a class the plant cannot drive.
    """
    plant = plant_named(name)
    if plant.is_nominal:
        return vehicle
    if type(vehicle) is not Vehicle:
        # Only highway-env's plain kinematic Vehicle has the step this plant replaces.
        raise ConfigError(
            f"plant '{name}' drives highway-env's Vehicle, not an ego of class "
            f"{type(vehicle).__name__}"
        )
    # The object stays the one the road and the action type hold; only its step changes.
    vehicle.__class__ = PlantVehicle
    assert isinstance(vehicle, PlantVehicle)
    vehicle.plant = plant
    vehicle.applied_acceleration_mps2 = 0.0
    vehicle.applied_steering_rad = 0.0
    return vehicle
