"""IDM against hand-computed values."""

from __future__ import annotations

import math

import pytest

from sims.idm import IdmParameters, idm_acceleration, idm_plus_acceleration


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
