"""Episode metrics and the driving score on hand-built trajectories."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from drive.episode import scoring
from drive.episode.metrics import (
    Trajectory,
    derivative,
    episode_metrics,
    lateral_acceleration,
    path_length,
)
from drive.episode.record import Recorder
from sims.env import SimFrame, SimStep
from sims.groundtruth import GroundTruth
from tests.helpers import cruise_plan, highway_scene


def make(n=41, dt=0.25, speed=None, **overrides) -> Trajectory:
    """A straight run at 10 m/s by default, with no lead, traffic at 10 m/s, limit 30 m/s."""
    speed = np.full(n, 10.0) if speed is None else np.asarray(speed, dtype=float)
    x = np.concatenate([[0.0], np.cumsum(speed[1:] * dt)])
    fields = dict(
        dt_s=dt,
        x_m=x,
        y_m=np.zeros(n),
        heading_rad=np.zeros(n),
        speed_mps=speed,
        reward=np.full(n, 0.8),
        crashed=np.zeros(n, bool),
        box_on_road=np.ones(n, bool),
        speed_limit_mps=np.full(n, 30.0),
        lead_gap_m=np.full(n, np.nan),
        lead_speed_mps=np.full(n, np.nan),
        traffic_speed_mps=np.full(n, 10.0),
        heading_error_rad=np.zeros(n),
        changing_lane=np.zeros(n, bool),
        lane_change_started=np.zeros(n, bool),
    )
    fields.update(overrides)
    return Trajectory(**fields)


def test_straight_constant_speed_episode_is_perfect():
    m = episode_metrics(make(), ended_by_environment=False)
    assert m.steps == 41 and m.duration_s == pytest.approx(10.25)
    assert m.termination == "time" and not m.collided and not m.off_road
    assert m.distance_m == pytest.approx(100.0)
    assert m.episode_return == pytest.approx(41 * 0.8 * 0.25)  # reward integrated over time
    assert m.progress_ratio == 1.0 and m.speed_limit_compliance == 1.0 and m.comfortable
    assert m.min_ttc_s is None and m.min_time_gap_s is None and m.route_completion is None
    assert m.score == 1.0


def test_rear_ending_is_at_fault_and_zeroes_the_score():
    crashed = np.zeros(41, bool)
    crashed[30:] = True
    t = make(crashed=crashed, crash_other_ahead=True, crash_while_changing=False)
    m = episode_metrics(t, ended_by_environment=True)
    assert m.termination == "collision" and m.at_fault_collision and m.score == 0.0


def test_being_rear_ended_in_lane_is_not_at_fault():
    crashed = np.zeros(41, bool)
    crashed[30:] = True
    t = make(crashed=crashed, crash_other_ahead=False, crash_while_changing=False)
    assert scoring.at_fault_collision(t) is False
    assert episode_metrics(t, ended_by_environment=True).score > 0


def test_being_hit_while_changing_lane_is_at_fault():
    crashed = np.zeros(41, bool)
    crashed[30:] = True
    assert scoring.at_fault_collision(
        make(crashed=crashed, crash_other_ahead=False, crash_while_changing=True)
    )


def test_a_corner_off_the_road_fails_drivable_area():
    box = np.ones(41, bool)
    box[12] = False
    m = episode_metrics(make(box_on_road=box), ended_by_environment=False)
    assert m.off_road and m.score == 0.0


def test_wrong_way_distance():
    heading_error = np.zeros(41)
    heading_error[:5] = math.pi  # 5 steps x 0.25 s x 10 m/s = 12.5 m against the lane
    t = make(heading_error_rad=heading_error)
    assert scoring.wrong_way_distance_m(t) == pytest.approx(12.5)
    assert scoring.driving_score(t) == 0.0


def test_progress_is_relative_to_traffic_and_gates_the_score():
    assert scoring.progress_ratio(make(speed=np.full(41, 5.0))) == pytest.approx(0.5)
    stuck = make(speed=np.full(41, 1.0))
    assert scoring.progress_ratio(stuck) == pytest.approx(0.1)
    assert scoring.driving_score(stuck) == 0.0  # below nuPlan's 0.2: not making progress
    no_traffic = make(speed=np.full(41, 15.0), traffic_speed_mps=np.full(41, np.nan))
    assert scoring.progress_ratio(no_traffic) == pytest.approx(0.5)  # against the 30 m/s limit


def test_time_to_collision_and_time_gap():
    gap = np.full(41, 30.0)
    lead = np.full(41, 10.0)
    gap[20], lead[20] = 8.0, 6.0  # closing at 4 m/s from 8 m: 2 s
    t = make(lead_gap_m=gap, lead_speed_mps=lead)
    assert scoring.min_time_to_collision_s(t) == pytest.approx(2.0)
    assert scoring.min_time_gap_s(t) == pytest.approx(0.8)
    gap[20], lead[20] = 3.0, 6.0  # 0.75 s: below nuPlan's 0.95 s bound
    below = make(lead_gap_m=gap, lead_speed_mps=lead)
    assert scoring.driving_score(below) == pytest.approx(1 - 5 / 16)


def test_speed_limit_compliance():
    t = make(speed=np.full(41, 10.0), speed_limit_mps=np.full(41, 9.0))  # 1 m/s over all along
    assert scoring.speed_limit_compliance(t) == pytest.approx(1 - 1 / scoring.MAX_OVERSPEED_MPS)


def test_comfort_rejects_hard_braking_and_accepts_gentle():
    gentle = np.clip(20.0 - 1.0 * np.arange(41) * 0.25, 0, None)  # -1 m/s2
    assert scoring.is_comfortable(make(speed=gentle))
    hard = np.clip(20.0 - 6.0 * np.arange(41) * 0.25, 0, None)  # -6 m/s2
    signals = scoring.comfort_signals(make(speed=hard))
    assert signals["min_longitudinal_acceleration_mps2"] < -4.05
    assert not scoring.is_comfortable(make(speed=hard))


def test_route_completion():
    edges = tuple(["a>b"] * 20 + ["b>c"] * 21)
    t = make(edges=edges, route_edges=("a>b", "b>c", "c>d"))
    assert scoring.route_completion(t) == pytest.approx(2 / 3)


def test_route_completion_and_mean_speed_predicates():
    from drive.episode.predicates import evaluate
    from sims.scenario import Criteria

    edges = tuple(["a>b"] * 20 + ["b>c"] * 21)
    on_route = episode_metrics(
        make(edges=edges, route_edges=("a>b", "b>c", "c>d")), ended_by_environment=False
    )
    no_route = episode_metrics(make(), ended_by_environment=False)
    criteria = Criteria(min_route_completion=0.6, min_mean_speed_mps=10.0)
    verdicts = {r.name: (r.passed, r.value) for r in evaluate(criteria, on_route)}
    assert verdicts["min_route_completion"] == (True, pytest.approx(2 / 3, abs=1e-4))
    assert verdicts["min_mean_speed_mps"] == (True, pytest.approx(10.0))
    strict = Criteria(min_route_completion=0.7, min_mean_speed_mps=10.5)
    assert [r.passed for r in evaluate(strict, on_route)][-2:] == [False, False]
    # nothing to complete where the scenario has no route: the predicate fails, naming no value
    [verdict] = [r for r in evaluate(criteria, no_route) if r.name == "min_route_completion"]
    assert (verdict.passed, verdict.value) == (False, None)
    with pytest.raises(ValueError, match="min_route_completion must be in"):
        Criteria(min_route_completion=1.5)


def test_lane_changes_per_minute():
    started = np.zeros(41, bool)
    started[[5, 25]] = True
    m = episode_metrics(make(lane_change_started=started), ended_by_environment=False)
    assert m.lane_changes == 2 and m.lane_changes_per_min == pytest.approx(
        2 / (10.25 / 60), rel=1e-5
    )


def test_helpers():
    assert path_length(np.array([0.0, 3.0]), np.array([0.0, 4.0])) == 5.0
    np.testing.assert_allclose(derivative(np.array([0.0, 1.0, 4.0]), 0.5), [2.0, 6.0])
    heading = np.arange(50) * 0.1 * 20.0 / 100.0
    np.testing.assert_allclose(lateral_acceleration(np.full(50, 20.0), heading, 0.1), 4.0)


def test_comfort_at_a_low_simulation_rate():
    assert scoring.is_comfortable(make(n=12, dt=1.0))


def test_a_lane_change_turned_back_counts_once_and_a_new_one_again():
    # the rule planner turns an aborted change back (change_left, then change_right at once): one
    # manoeuvre; a change begun after a step of following is a second one
    scene = highway_scene(ego_lane=1, lanes=3)
    truth = GroundTruth(time_s=scene.time_s, ego=scene.ego, vehicles=(), lanes=scene.lanes)
    step = SimStep(frame=SimFrame(truth=truth, image=None), reward=0.0, terminated=False,
                   truncated=False)  # fmt: skip
    recorder = Recorder(dt_s=1 / 15)
    decisions = ["cruise", "change_left", "change_left", "change_right", "change_right", "follow"]
    for decision in [*decisions, "change_right", "cruise"]:
        recorder.record(step, replace(cruise_plan(1, 25.0), decision=decision))
    trajectory = recorder.trajectory(controller_fallbacks=0)
    assert trajectory.lane_change_started.tolist() == [0, 1, 0, 0, 0, 0, 1, 0]
    assert episode_metrics(trajectory, ended_by_environment=False).lane_changes == 2
