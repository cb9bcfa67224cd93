"""IDM against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from sims.idm import (
    ACC_BRAKING_MPS2,
    IdmParameters,
    acc_rule,
    idm_acc_acceleration,
    idm_acceleration,
    idm_plus_acc_acceleration,
    idm_plus_acceleration,
)


def test_free_road_at_desired_speed_is_zero():
    assert idm_acceleration(30.0, 30.0) == pytest.approx(0.0)


def test_free_road_from_standstill_is_max_acceleration():
    assert idm_acceleration(0.0, 30.0) == pytest.approx(IdmParameters().max_acceleration_mps2)


def test_following_hand_computed():
    # v = 20, v0 = 30, gap 30 m, leader at 15 m/s; a = 3, b = 5, T = 1.5, s0 = 5, delta = 4
    desired_gap = 5 + 20 * 1.5 + 20 * 5 / (2 * math.sqrt(3 * 5))
    expected = 3 * (1 - (20 / 30) ** 4 - (desired_gap / 30) ** 2)
    assert idm_acceleration(20.0, 30.0, gap_m=30.0, lead_speed_mps=15.0) == pytest.approx(expected)
    assert expected < -3  # closing fast on a near leader means braking


def test_far_leader_is_almost_free_road():
    far = idm_acceleration(25.0, 30.0, gap_m=1e4, lead_speed_mps=25.0)
    assert far == pytest.approx(idm_acceleration(25.0, 30.0), abs=1e-3)


def test_idm_plus_takes_the_smaller_term_hand_computed():
    # v = 25, v0 = 30, leader at 25 m/s 80 m ahead: s* = 5 + 25 x 1.5 = 42.5 m
    free = 3 * (1 - (25 / 30) ** 4)
    interaction = 3 * (1 - (42.5 / 80) ** 2)
    assert interaction > free  # far enough: IDM+ accelerates as on a free road ...
    got = idm_plus_acceleration(25.0, 30.0, gap_m=80.0, lead_speed_mps=25.0)
    assert got == pytest.approx(free)
    idm = idm_acceleration(25.0, 30.0, gap_m=80.0, lead_speed_mps=25.0)
    assert idm == pytest.approx(free - 3 * (42.5 / 80) ** 2)  # ... where IDM already eases off
    # 30 m behind, closer than it wants: the interaction term decides
    near = idm_plus_acceleration(25.0, 30.0, gap_m=30.0, lead_speed_mps=25.0)
    assert near == pytest.approx(3 * (1 - (42.5 / 30) ** 2))
    assert idm_plus_acceleration(25.0, 30.0) == pytest.approx(idm_acceleration(25.0, 30.0))


def test_acc_keeps_idm_where_idm_brakes_less_than_the_kinematics_need():
    # v = 20 closing at 10 m/s on a leader 20 m ahead: CAH = -10^2 / (2 x 20) = -2.5 m/s2
    assert acc_rule(-1.0, 20.0, 20.0, 10.0) == -1.0
    assert acc_rule(-2.5, 20.0, 20.0, 10.0) == -2.5


def test_acc_blends_towards_the_cah_hand_computed():
    # A cut-in at our speed 10 m ahead: CAH = 0, IDM brakes at 9 m/s2; the blend brakes at
    # 0.01 x (-9) + 0.99 x (0 + 3.5 tanh(-9 / 3.5)) = -3.51 m/s2, no more than b = 3.5 beyond the CAH
    expected = 0.01 * -9.0 + 0.99 * (3.5 * math.tanh(-9.0 / 3.5))
    assert acc_rule(-9.0, 25.0, 10.0, 25.0) == pytest.approx(expected)
    assert -9.0 < expected < -3.4


def test_where_idm_brakes_harder_than_the_kinematics_need_acc_lies_between():
    speeds = torch.linspace(1.0, 30.0, 30, dtype=torch.float64)
    for gap, lead in [(5.0, 0.0), (20.0, 10.0), (60.0, 5.0), (25.0, 25.0)]:
        closing = (speeds - lead).clamp(min=0.0)
        cah = -(closing**2) / (2 * gap)
        idm = idm_acceleration(speeds, 30.0, gap_m=torch.tensor(gap), lead_speed_mps=lead)
        acc = acc_rule(idm, speeds, torch.tensor(gap), lead)
        assert bool(torch.all(acc >= idm))  # never harder than IDM
        harder = idm < cah
        assert bool(harder.any())
        assert bool(torch.all(acc[harder] <= cah[harder]))  # never softer than the kinematics
        # ... and at most b below it, but for the 1 % of IDM the coolness factor keeps
        floor = 0.01 * idm + 0.99 * (cah - ACC_BRAKING_MPS2)
        assert bool(torch.all(acc[harder] >= floor[harder] - 1e-9))


def test_acc_models_are_one_function_for_floats_and_tensors():
    cases = [(25.0, 30.0, 10.0, 25.0), (20.0, 30.0, 30.0, 5.0), (35.0, 30.0, 200.0, 35.0)]
    for model in (idm_acc_acceleration, idm_plus_acc_acceleration):
        batch = model(
            torch.tensor([c[0] for c in cases], dtype=torch.float64),
            torch.tensor([c[1] for c in cases], dtype=torch.float64),
            gap_m=torch.tensor([c[2] for c in cases], dtype=torch.float64),
            lead_speed_mps=torch.tensor([c[3] for c in cases], dtype=torch.float64),
        )
        singles = [model(v, v0, gap_m=gap, lead_speed_mps=lead) for v, v0, gap, lead in cases]
        assert batch.tolist() == pytest.approx(singles, abs=1e-12)


def test_gentle_free_road_brakes_at_most_the_acc_bound_above_the_desired_speed():
    # 30 m/s on a 20 m/s road: IDM brakes at 3 (1 - 1.5^4) = -12.19 m/s2, the ACC models at 3.5
    assert idm_acceleration(30.0, 20.0) == pytest.approx(3 * (1 - 1.5**4))
    assert idm_acc_acceleration(30.0, 20.0) == pytest.approx(-ACC_BRAKING_MPS2)
    # near the desired speed both ease off alike, and below it nothing changes
    assert idm_acc_acceleration(20.5, 20.0) == pytest.approx(idm_acceleration(20.5, 20.0))
    assert idm_plus_acc_acceleration(10.0, 20.0) == pytest.approx(idm_acceleration(10.0, 20.0))
