"""Episode metrics on hand-built trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from drive.metrics import Trajectory, derivative, episode_metrics, lateral_acceleration, path_length


def _trajectory(n=11, dt=0.5, speed=None, crashed_at=None, on_road=True, changes=()):
    speed = np.full(n, 10.0) if speed is None else np.asarray(speed, dtype=float)
    x = np.concatenate([[0.0], np.cumsum(speed[1:] * dt)])
    crashed = np.zeros(n, dtype=bool)
    if crashed_at is not None:
        crashed[crashed_at:] = True
    started = np.zeros(n, dtype=bool)
    started[list(changes)] = True
    return Trajectory(
        dt_s=dt,
        x_m=x,
        y_m=np.zeros(n),
        heading_rad=np.zeros(n),
        speed_mps=speed,
        reward=np.full(n, 0.8),
        crashed=crashed,
        on_road=np.full(n, on_road),
        lane_change_started=started,
        controller_fallbacks=0,
    )


def test_straight_constant_speed_episode():
    m = episode_metrics(_trajectory(), ended_by_environment=False)
    assert m.steps == 11 and m.duration_s == 5.5
    assert m.termination == "time" and not m.collided and not m.off_road
    assert m.distance_m == pytest.approx(50.0)
    assert m.mean_speed_mps == pytest.approx(10.0)
    assert m.episode_return == pytest.approx(11 * 0.8 * 0.5)  # reward integrated over time
    assert m.peak_abs_acceleration_mps2 == 0 and m.peak_abs_jerk_mps3 == 0
    assert m.peak_abs_lateral_acceleration_mps2 == 0


def test_collision_wins_over_environment_end():
    m = episode_metrics(_trajectory(crashed_at=7), ended_by_environment=True)
    assert m.termination == "collision" and m.collided


def test_environment_end_and_off_road():
    m = episode_metrics(_trajectory(on_road=False), ended_by_environment=True)
    assert m.termination == "environment" and m.off_road


def test_lane_changes_are_counted_once_each():
    assert (
        episode_metrics(_trajectory(changes=(2, 6)), ended_by_environment=False).lane_changes == 2
    )


def test_acceleration_and_jerk_from_speed():
    speed = [10, 10, 11, 12, 12]  # +1 m/s per 0.5 s step = 2 m/s2, switched on and off
    m = episode_metrics(_trajectory(n=5, speed=speed), ended_by_environment=False)
    assert m.peak_abs_acceleration_mps2 == pytest.approx(2.0)
    assert m.peak_abs_jerk_mps3 == pytest.approx(4.0)


def test_lateral_acceleration_on_a_circle():
    dt, speed, radius = 0.1, 20.0, 100.0
    heading = np.arange(50) * dt * speed / radius
    lateral = lateral_acceleration(np.full(50, speed), heading, dt)
    np.testing.assert_allclose(lateral, speed**2 / radius)


def test_helpers():
    assert path_length(np.array([0.0, 3.0]), np.array([0.0, 4.0])) == 5.0
    assert path_length(np.array([1.0]), np.array([1.0])) == 0.0
    np.testing.assert_allclose(derivative(np.array([0.0, 1.0, 4.0]), 0.5), [2.0, 6.0])
