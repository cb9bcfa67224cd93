"""mpc-learned: the learned bicycle, its weights, and the MPC on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import control.dynamics_model as dynamics_model
from control.dynamics_model import (
    DynamicsParameters,
    LearnedBicycle,
    filtered,
    load_dynamics,
    save_dynamics,
)
from control.mpc import MpcController
from control.mpc_learned import LearnedMpcController
from control.registry import make_controller
from drive.bench.manoeuvres import MANOEUVRES, manoeuvre_metrics, run_manoeuvre
from drive.episode.scoring import COMFORT_BOUNDS as NUPLAN_COMFORT
from sims.plants import first_order_lag, lag_factor
from sims.strict import ConfigError
from tests.helpers import cruise_plan, ego_at


def test_the_lag_as_a_convolution_is_the_plants_recursion():
    commands = torch.tensor([[0.0, 1.0, 1.0, -0.5, 0.2, 0.0, 0.0]], dtype=torch.float64)
    alpha = lag_factor(0.3, 1 / 15)
    applied, expected = 0.0, []
    for command in commands[0].tolist():
        applied = first_order_lag(applied, command, alpha)
        expected.append(applied)
    lag = torch.tensor(0.3, dtype=torch.float64)
    np.testing.assert_allclose(filtered(commands, lag, 1 / 15)[0].numpy(), expected, atol=1e-12)


def test_weights_round_trip_and_a_bad_file_is_refused(tmp_path):
    parameters = DynamicsParameters(0.2, 0.4, 1.1, -0.003)
    save_dynamics(LearnedBicycle(parameters), tmp_path / "best.safetensors")
    loaded = load_dynamics(tmp_path / "best.safetensors")
    np.testing.assert_allclose(list(vars(loaded).values()), list(vars(parameters).values()))
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    with pytest.raises(ConfigError, match="bad.safetensors: not a learned dynamics model"):
        load_dynamics(tmp_path / "bad.safetensors")


def test_on_the_nominal_model_it_commands_what_mpc_does_to_rounding():
    # Equal bit for bit where numpy runs without AVX-512; with it, the two ways of building the
    # same matrices round apart in the last digit (2e-15 rad seen), so the test allows 1e-12.
    nominal = LearnedMpcController(dt_s=1 / 15, model=DynamicsParameters())
    mpc = MpcController(dt_s=1 / 15)
    for step in range(4):
        ego = ego_at(1, x_m=2.0 * step, speed_mps=25.0, y_offset_m=0.1 * step)
        learned, plain = (
            nominal.control(ego, cruise_plan(0, 27.0)),
            mpc.control(ego, cruise_plan(0, 27.0)),
        )
        assert learned.acceleration_mps2 == pytest.approx(plain.acceleration_mps2, abs=1e-12)
        assert learned.steering_rad == pytest.approx(plain.steering_rad, abs=1e-12)


def test_the_command_makes_the_lagged_car_apply_what_the_qp_planned():
    model = DynamicsParameters(0.3, 0.3, 1.2, 0.002)
    controller = LearnedMpcController(dt_s=1 / 15, model=model)
    wanted = controller._command(0.5, 0.01)  # what the car should apply after this step
    factors = controller._factors
    applied = first_order_lag(
        controller._applied, np.array([wanted.acceleration_mps2, wanted.steering_rad]), factors
    )
    assert applied[0] == pytest.approx(0.5)
    assert np.arctan(0.5 * np.tan(applied[1] + 0.002)) == pytest.approx(0.01)


def test_a_plant_without_a_learned_model_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(dynamics_model, "DYNAMICS_DIR", tmp_path)
    with pytest.raises(
        ConfigError, match="'mpc-learned' has no dynamics model learned on plant 'lagged'"
    ):
        make_controller("mpc-learned", dt_s=0.1, plant="lagged")


@pytest.fixture(scope="module")
def lagged():
    return {
        (name, controller): manoeuvre_metrics(
            run_manoeuvre(MANOEUVRES[name], controller, plant="lagged")
        )
        for name in ("lane_change_25", "lane_change_30")
        for controller in ("mpc", "mpc-learned")
    }


@pytest.mark.parametrize("name", ["lane_change_25", "lane_change_30"])
def test_on_the_lagged_car_it_halves_the_mpcs_error_within_comfort(lagged, name):
    learned, nominal = lagged[(name, "mpc-learned")], lagged[(name, "mpc")]
    assert learned["rms_lateral_error_m"] <= 0.5 * nominal["rms_lateral_error_m"]
    assert learned["overshoot_m"] <= 0.10
    assert (
        learned["peak_abs_lateral_acceleration_mps2"]
        <= NUPLAN_COMFORT["max_abs_lateral_acceleration_mps2"]
    )
    assert learned["peak_abs_yaw_rate_radps"] <= NUPLAN_COMFORT["max_abs_yaw_rate_radps"]
    assert learned["peak_abs_jerk_mps3"] <= NUPLAN_COMFORT["max_abs_longitudinal_jerk_mps3"]
    assert not learned["collided"]
