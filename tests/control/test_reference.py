"""The MPC's speed reference: comfortable where it may be, as hard as the plan asks where it must."""

from __future__ import annotations

import numpy as np
import pytest

from control.reference import COMFORT_JERK_MPS3, URGENT_BRAKING_MPS2, speed_reference_mps

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


def test_a_comfortable_slow_down_changes_acceleration_no_faster_than_the_comfort_jerk():
    speeds = reference(20.0, 17.0)  # 3 m/s2 asked: comfortable, so eased in and out
    jerk = np.diff(np.concatenate([[0.0], accelerations(20.0, speeds)])) / STEP_S
    assert np.max(np.abs(jerk)) <= COMFORT_JERK_MPS3 + 1e-9
    assert accelerations(20.0, speeds).min() == pytest.approx(-3.0, abs=0.05)
    assert speeds[-1] == pytest.approx(17.0, abs=0.05)  # and it settles on the target


def test_it_stops_without_a_jolt():
    speeds = reference(3.0, 0.0)
    acceleration = accelerations(3.0, speeds)
    assert speeds[-1] == pytest.approx(0.0, abs=1e-6)
    stopped = int(np.argmax(speeds <= 1e-9))
    # the braking has eased to a fraction of its peak before the car comes to rest
    assert abs(acceleration[stopped]) < 0.5 * abs(acceleration.min())


def test_urgent_braking_is_not_delayed_by_comfort():
    speeds = reference(20.0, 14.0)  # 6 m/s2 asked: more than URGENT_BRAKING_MPS2
    assert accelerations(20.0, speeds)[0] == pytest.approx(-6.0)
    assert 6.0 > URGENT_BRAKING_MPS2


def test_it_starts_from_the_acceleration_applied_now():
    speeds = reference(20.0, 20.0, acceleration_mps2=-2.0)
    assert accelerations(20.0, speeds)[0] == pytest.approx(-2.0 + COMFORT_JERK_MPS3 * STEP_S)
