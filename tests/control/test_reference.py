"""The MPC's speed reference: comfortable where it may be, as hard as the plan asks where it must."""

from __future__ import annotations

import numpy as np
import pytest

from control.reference import (
    COMFORT_JERK_MPS3,
    URGENT_BRAKING_MPS2,
    ramp_reference_mps,
    speed_reference_mps,
)

pytestmark = pytest.mark.unit

STEP_S = 0.1
STEPS = 60


def reference(speed_mps: float, target_mps: float, acceleration_mps2: float = 0.0) -> np.ndarray:
    return speed_reference_mps(
        speed_mps,
        target_mps,
        acceleration_mps2,
        step_s=STEP_S,
        steps=STEPS,
        horizon_s=1.0,
        max_acceleration_mps2=1.5,
        max_braking_mps2=6.0,
    )


def accelerations(speed_mps: float, speeds: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[speed_mps], speeds])) / STEP_S


def jerks(speed_mps: float, acceleration_mps2: float, speeds: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[acceleration_mps2], accelerations(speed_mps, speeds)])) / STEP_S


def test_a_comfortable_slow_down_is_eased_in_and_out_and_held_as_asked():
    speeds = reference(20.0, 17.0)  # 3 m/s2 asked: comfortable
    assert np.max(np.abs(jerks(20.0, 0.0, speeds))) <= COMFORT_JERK_MPS3 + 1e-9
    assert accelerations(20.0, speeds).min() == pytest.approx(-3.0)
    assert speeds[-1] == pytest.approx(17.0, abs=1e-3)


def test_it_stops_without_a_jolt():
    speeds = reference(3.0, 0.0)
    assert speeds[-1] == 0.0
    # the braking eases off to nothing before the car comes to rest
    assert np.max(np.abs(jerks(3.0, 0.0, speeds))) <= COMFORT_JERK_MPS3 + 1e-9


def test_after_an_overshoot_it_comes_back_to_the_target():
    speeds = reference(20.0, 20.0, acceleration_mps2=-2.0)  # braking still, the target reached
    assert accelerations(20.0, speeds)[0] == pytest.approx(-2.0 + COMFORT_JERK_MPS3 * STEP_S)
    assert speeds[-1] == pytest.approx(20.0, abs=0.01)
    assert reference(0.0, 0.0, acceleration_mps2=1.0)[-1] == pytest.approx(0.0, abs=1e-3)


def test_urgent_braking_is_not_delayed_by_comfort():
    asked_mps2 = URGENT_BRAKING_MPS2 + 2.0
    speeds = reference(20.0, 20.0 - asked_mps2)
    assert accelerations(20.0, speeds)[0] == pytest.approx(-asked_mps2)
    # just under the urgent braking, the jerk allowed has grown to the MPC's limit: the speed one
    # second on is within 0.6 m/s of the urgent ramp's, so the two do not take turns
    just_under = reference(20.0, 20.0 - (URGENT_BRAKING_MPS2 - 0.05))
    assert just_under[9] - (20.0 - URGENT_BRAKING_MPS2) < 0.6


def test_the_plans_ramp_asks_the_gap_over_the_horizon_and_stops_at_the_target():
    # 3 m/s2 asked (the gap of 3 m/s over 1 s): 19.7, 19.4, ... then held at 17 from the tenth step
    ramp = ramp_reference_mps(
        20.0, 17.0, step_s=0.1, steps=12, horizon_s=1.0, max_acceleration_mps2=1.5,
        max_braking_mps2=6.0,
    )  # fmt: skip
    np.testing.assert_allclose(ramp[:3], [19.7, 19.4, 19.1])
    np.testing.assert_allclose(ramp[9:], [17.0, 17.0, 17.0])
    # bounded by the acceleration allowed (1.5 m/s2 for a gap of 5 m/s), and never below rest
    up = ramp_reference_mps(
        10.0, 15.0, step_s=0.1, steps=2, horizon_s=1.0, max_acceleration_mps2=1.5,
        max_braking_mps2=6.0,
    )  # fmt: skip
    np.testing.assert_allclose(up, [10.15, 10.3])
    stop = ramp_reference_mps(
        0.3, 0.0, step_s=0.1, steps=3, horizon_s=0.01, max_acceleration_mps2=1.5,
        max_braking_mps2=6.0,
    )  # fmt: skip
    np.testing.assert_allclose(stop, [0.0, 0.0, 0.0], atol=1e-12)


def test_urgent_braking_is_the_plans_ramp():
    kwargs = {
        "step_s": STEP_S, "steps": STEPS, "horizon_s": 1.0, "max_acceleration_mps2": 1.5,
        "max_braking_mps2": 6.0,
    }  # fmt: skip
    target = 20.0 - (URGENT_BRAKING_MPS2 + 1.0)
    np.testing.assert_array_equal(
        reference(20.0, target), ramp_reference_mps(20.0, target, **kwargs)
    )
