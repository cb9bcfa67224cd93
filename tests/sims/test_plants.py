"""Plants: highway-env's vehicle with lagged actuators, another wheelbase or a steering bias."""

from __future__ import annotations

import math

import numpy as np
import pytest
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.kinematics import Vehicle

from sims.plants import (
    DEFAULT_PLANT,
    PLANTS,
    PlantVehicle,
    first_order_lag,
    install_plant,
    lag_factor,
)
from sims.scenario import load_scenario, with_plant
from sims.strict import ConfigError


def _vehicle() -> Vehicle:
    road = Road(RoadNetwork.straight_road_network(1), np_random=np.random.default_rng(0))
    vehicle = Vehicle(road, [0.0, 0.0], heading=0.0, speed=20.0)
    road.vehicles.append(vehicle)
    return vehicle


def test_lag_factor_and_one_lag_step_by_hand():
    assert lag_factor(0.0, 0.1) == 1.0
    assert lag_factor(0.3, 1 / 15) == pytest.approx(1 - math.exp(-2 / 9))
    assert first_order_lag(1.0, 3.0, 0.25) == pytest.approx(1.5)


def test_the_default_plant_leaves_highway_envs_vehicle_untouched():
    vehicle = _vehicle()
    assert install_plant(vehicle, DEFAULT_PLANT) is vehicle
    assert type(vehicle) is Vehicle


def test_the_lagged_plant_steps_as_computed_by_hand():
    vehicle = install_plant(_vehicle(), "lagged")
    assert isinstance(vehicle, PlantVehicle)
    plant, dt = PLANTS["lagged"], 1 / 15
    alpha = 1 - math.exp(-dt / 0.3)
    vehicle.act({"acceleration": 2.0, "steering": 0.1})
    vehicle.step(dt)
    steering = alpha * 0.1  # from rest, one step closes alpha of the gap
    beta = math.atan(0.5 * math.tan(steering))
    assert vehicle.applied_acceleration_mps2 == pytest.approx(alpha * 2.0)
    assert vehicle.speed == pytest.approx(20.0 + alpha * 2.0 * dt)
    assert vehicle.heading == pytest.approx(20.0 * math.sin(beta) / (6.0 / 2) * dt)
    assert plant.wheelbase_m == pytest.approx(6.0)
    assert vehicle.position[1] == pytest.approx(20.0 * math.sin(beta) * dt)


def test_the_steering_bias_turns_a_straight_wheel():
    vehicle = install_plant(_vehicle(), "steering-bias")
    vehicle.act({"acceleration": 0.0, "steering": 0.0})
    vehicle.step(0.1)
    beta = math.atan(0.5 * math.tan(0.01))  # the wheel at the bias, the lag no matter
    assert vehicle.heading == pytest.approx(20 * math.sin(beta) / 2.5 * 0.1)


def test_unknown_plants_and_other_vehicle_classes_are_refused_by_name(write_scenario):
    with pytest.raises(ConfigError, match="unknown plant 'wobbly'; valid: highway-env, lagged"):
        install_plant(_vehicle(), "wobbly")
    from highway_env.vehicle.controller import MDPVehicle

    road = Road(RoadNetwork.straight_road_network(1), np_random=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="plant 'lagged' drives highway-env's Vehicle, not .*MDP"):
        install_plant(MDPVehicle(road, [0.0, 0.0]), "lagged")
    text = 'description = "x"\nenv = "highway-v0"\nduration_s = 5.0\nplant = "{}"\n'
    assert load_scenario(write_scenario(text.format("lagged"))).plant == "lagged"
    with pytest.raises(ConfigError, match="custom.toml: unknown plant 'wobbly'; valid: "):
        load_scenario(write_scenario(text.format("wobbly")))


def test_plant_option_overrides_the_scenarios_car():
    scenario = load_scenario("highway")
    assert with_plant(scenario, None) is scenario and scenario.plant == DEFAULT_PLANT
    assert with_plant(scenario, "lagged").plant == "lagged"
    with pytest.raises(ConfigError, match="unknown plant 'wobbly'"):
        with_plant(scenario, "wobbly")
