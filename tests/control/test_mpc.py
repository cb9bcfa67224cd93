"""The MPC: its model against highway-env, its QP, its fallback, and its manoeuvres in closed loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
from highway_env.road.road import Road, RoadNetwork
from highway_env.vehicle.kinematics import Vehicle

from control.base import Command
from control.bicycle import BicycleState, bicycle_jacobians, bicycle_step
from control.mpc import MpcController
from drive.bench.manoeuvres import MANOEUVRES, manoeuvre_metrics, run_manoeuvre
from drive.episode.scoring import COMFORT_BOUNDS as NUPLAN_COMFORT
from tests.helpers import cruise_plan, ego_at


def test_bicycle_step_matches_highway_env_over_100_random_steps():
    rng = np.random.default_rng(0)
    road = Road(RoadNetwork.straight_road_network(1), np_random=rng)
    vehicle = Vehicle(road, [0.0, 0.0], heading=0.3, speed=20.0)
    state = BicycleState(0.0, 0.0, 0.3, 20.0)
    for _ in range(100):
        acceleration, steering = rng.uniform(-5, 5), rng.uniform(-0.5, 0.5)
        vehicle.act({"acceleration": acceleration, "steering": steering})
        vehicle.step(1 / 15)
        state = bicycle_step(
            state, acceleration_mps2=acceleration, steering_rad=steering, dt_s=1 / 15
        )
        expected = (vehicle.position[0], vehicle.position[1], vehicle.heading, vehicle.speed)
        assert (state.x_m, state.y_m, state.heading_rad, state.speed_mps) == pytest.approx(
            expected, abs=1e-9
        )


def test_jacobians_match_finite_differences():
    state = BicycleState(3.0, -2.0, 0.4, 17.0)
    inputs = {"acceleration_mps2": 1.2, "steering_rad": 0.07, "dt_s": 0.1}
    a_matrix, b_matrix = bicycle_jacobians(state, **inputs)
    base = np.array(list(vars(bicycle_step(state, **inputs)).values()))
    epsilon = 1e-6
    for column, field in enumerate(("x_m", "y_m", "heading_rad", "speed_mps")):
        moved = BicycleState(**{**vars(state), field: getattr(state, field) + epsilon})
        numeric = (np.array(list(vars(bicycle_step(moved, **inputs)).values())) - base) / epsilon
        np.testing.assert_allclose(np.array(a_matrix)[:, column], numeric, atol=1e-5)
    for column, name in enumerate(("acceleration_mps2", "steering_rad")):
        moved_inputs = {**inputs, name: inputs[name] + epsilon}
        numeric = (
            np.array(list(vars(bicycle_step(state, **moved_inputs)).values())) - base
        ) / epsilon
        np.testing.assert_allclose(np.array(b_matrix)[:, column], numeric, atol=1e-5)


def test_on_the_reference_it_does_nothing():
    controller = MpcController(dt_s=1 / 15)
    command = controller.control(ego_at(1, speed_mps=25.0), cruise_plan(1, 25.0))
    assert command.acceleration_mps2 == pytest.approx(0.0, abs=1e-3)
    assert command.steering_rad == pytest.approx(0.0, abs=1e-4)


def test_solver_failure_falls_back_to_braking_and_is_counted(monkeypatch):
    controller = MpcController(dt_s=1 / 15)
    monkeypatch.setattr(controller.qp, "solve", lambda **kwargs: None)
    command = controller.control(ego_at(1), cruise_plan(1, 25.0))
    assert command == Command(
        acceleration_mps2=-controller.limits.max_braking_mps2, steering_rad=0.0
    )
    assert controller.fallbacks == 1


@pytest.fixture(scope="module")
def figures():
    return {
        (name, controller): manoeuvre_metrics(run_manoeuvre(MANOEUVRES[name], controller))
        for name in MANOEUVRES
        for controller in ("mpc", "builtin")
    }


def test_lane_keeping_at_30_mps(figures):
    assert figures[("lane_keep_30", "mpc")]["max_abs_lateral_error_m"] <= 0.10


@pytest.mark.parametrize("name", ["lane_change_25", "lane_change_30"])
def test_lane_change_is_precise_and_comfortable(figures, name):
    m = figures[(name, "mpc")]
    assert m["overshoot_m"] <= 0.10
    assert m["settle_time_s"] <= 4.0
    assert (
        m["peak_abs_lateral_acceleration_mps2"]
        <= NUPLAN_COMFORT["max_abs_lateral_acceleration_mps2"]
    )
    assert m["peak_abs_yaw_rate_radps"] <= NUPLAN_COMFORT["max_abs_yaw_rate_radps"]
    assert m["peak_abs_jerk_mps3"] <= NUPLAN_COMFORT["max_abs_longitudinal_jerk_mps3"]
    assert m["peak_abs_acceleration_mps2"] <= NUPLAN_COMFORT["max_longitudinal_acceleration_mps2"]
    assert not m["collided"]


def test_speed_step_and_stop(figures):
    assert figures[("speed_step", "mpc")]["final_speed_mps"] == pytest.approx(30.0, abs=0.1)
    stop = figures[("stop_behind_stalled", "mpc")]
    assert not stop["collided"] and stop["final_speed_mps"] == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("name", ["lane_change_25", "lane_change_30"])
def test_tracks_better_than_highway_env_builtin(figures, name):
    assert (
        figures[(name, "mpc")]["rms_lateral_error_m"]
        < figures[(name, "builtin")]["rms_lateral_error_m"]
    )


@pytest.mark.parametrize("name", ["speed_step", "stop_behind_stalled"])
def test_smoother_than_highway_env_builtin(figures, name):
    assert (
        figures[(name, "mpc")]["peak_abs_jerk_mps3"]
        < figures[(name, "builtin")]["peak_abs_jerk_mps3"]
    )
    assert math.isfinite(figures[(name, "mpc")]["peak_abs_jerk_mps3"])


def test_an_aborted_lane_change_does_not_inherit_the_old_transition():
    from control.reference import LaneChangeReference
    from sims.groundtruth import LaneId

    reference = LaneChangeReference(duration_s=3.0)
    reference.update(LaneId("a", "b", 1), 0.0, 0.0)
    reference.update(LaneId("a", "b", 0), 4.0, 1.0)  # switch left: ease from 4 m
    assert float(reference.offset_m(1.0)) == pytest.approx(4.0)
    reference.update(LaneId("a", "b", 1), -0.2, 1.5)  # abort after 0.2 m: back to the old lane
    assert float(reference.offset_m(2.0)) == 0.0


def test_at_a_standstill_after_full_braking_it_neither_fails_nor_reverses():
    controller = MpcController(dt_s=1 / 15)
    controller._previous = np.array([-6.0, 0.0])  # it was braking as hard as it can
    command = controller.control(ego_at(1, speed_mps=0.0), cruise_plan(1, 0.0))
    assert controller.fallbacks == 0
    assert command.acceleration_mps2 >= 0.0


def test_the_fallback_brakes_only_down_to_a_standstill(monkeypatch):
    controller = MpcController(dt_s=0.1)
    monkeypatch.setattr(controller.qp, "solve", lambda **kwargs: None)
    command = controller.control(ego_at(1, speed_mps=0.2), cruise_plan(1, 0.0))
    assert command.acceleration_mps2 == pytest.approx(-2.0)  # 0.2 m/s gone in one 0.1 s step
