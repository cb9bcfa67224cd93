"""The simulator wrapper: ground truth, scripted events, rendering and determinism on real highway-env."""

from __future__ import annotations

import numpy as np
import pytest

from sims.env import SimEnv
from sims.events import LeadBrake, ScriptedVehicle, StalledVehicle
from sims.groundtruth import CENTRELINE_STEP_M, route_from
from sims.scenario import Scenario


def _scenario(**overrides) -> Scenario:
    fields = dict(
        id="test",
        description="test",
        env="highway-fast-v0",
        duration_s=3.0,
        env_config={"vehicles_count": 5},
    )
    fields.update(overrides)
    return Scenario(**fields)


def test_ground_truth_matches_highway_env():
    sim = SimEnv(_scenario())
    frame = sim.reset(seed=3)
    ego = sim.highway_env.vehicle
    truth = frame.truth
    assert (truth.ego.x_m, truth.ego.y_m, truth.ego.speed_mps) == (
        ego.position[0],
        ego.position[1],
        ego.speed,
    )
    assert truth.ego.lane.as_tuple() == ego.lane_index
    assert len(truth.vehicles) == len(sim.highway_env.road.vehicles) - 1
    assert truth.ego.lane in [lane.lane for lane in truth.lanes]
    for lane in truth.lanes:
        steps = np.hypot(np.diff(lane.centreline.x_m), np.diff(lane.centreline.y_m))
        np.testing.assert_allclose(steps, CENTRELINE_STEP_M, atol=1e-9)
        assert not lane.centreline.x_m.flags.writeable


def test_step_applies_the_command_through_continuous_action():
    sim = SimEnv(_scenario())
    speed_before = sim.reset(seed=0).truth.ego.speed_mps
    step = sim.step(acceleration_mps2=3.0, steering_rad=0.0)
    expected = speed_before + 3.0 * sim.dt_s
    assert step.frame.truth.ego.speed_mps == pytest.approx(expected, abs=1e-9)
    assert step.frame.truth.time_s == pytest.approx(sim.dt_s)


def _coast_to_the_end(sim: SimEnv) -> tuple[int, bool]:
    """Step with a zero command until the episode ends: the steps taken, and whether the
    environment terminated it (rather than the time limit)."""
    steps = 0
    while True:
        steps += 1
        step = sim.step(acceleration_mps2=0.0, steering_rad=0.0)
        if step.terminated or step.truncated:
            return steps, step.terminated


def test_episode_is_truncated_at_the_scenario_duration():
    sim = SimEnv(_scenario(duration_s=1.0, env_config={"vehicles_count": 1}))
    sim.reset(seed=0)
    steps, _ = _coast_to_the_end(sim)
    assert steps == 15


def test_an_episode_outlasts_the_environments_own_duration_when_the_scenario_asks():
    """roundabout-v0 ends its episodes at 11 s by itself; a scenario of 12 s lasts 12 s (180 steps),
    the ego held still at its entry so that nothing else ends it."""
    sim = SimEnv(_scenario(env="roundabout-v0", duration_s=12.0, env_config={}))
    sim.reset(seed=0)
    sim.highway_env.road.vehicles[:] = [sim.highway_env.vehicle]
    sim.highway_env.vehicle.speed = 0.0
    steps, terminated = _coast_to_the_end(sim)
    assert (steps, terminated) == (180, False)


def test_same_seed_same_world():
    positions = []
    for _ in range(2):
        sim = SimEnv(_scenario())
        sim.reset(seed=11)
        for _ in range(10):
            frame = sim.step(acceleration_mps2=0.5, steering_rad=0.01).frame
        positions.append([(v.x_m, v.y_m, v.speed_mps) for v in frame.truth.vehicles])
    assert positions[0] == positions[1]


def test_rendered_frames_show_road_and_vehicles():
    sim = SimEnv(_scenario(), render=True)
    image = sim.reset(seed=0).image
    assert image is not None and image.dtype == np.uint8 and image.ndim == 3
    road = np.all(np.abs(image.astype(int) - 100) <= 10, axis=-1).mean()
    blue_cars = np.all(np.abs(image.astype(int) - (100, 200, 255)) <= 30, axis=-1).sum()
    assert road > 0.2 and blue_cars > 50


def test_lead_brake_stops_without_reversing():
    sim = SimEnv(
        _scenario(duration_s=10.0, events=(LeadBrake(trigger_s=0.0, gap_m=60.0, decel_mps2=6.0),))
    )
    sim.reset(seed=0)
    scripted = [v for v in sim.highway_env.road.vehicles if isinstance(v, ScriptedVehicle)]
    assert len(scripted) == 1
    for _ in range(90):  # 6 s: 25 m/s at 6 m/s2 stops within 4.2 s
        sim.step(acceleration_mps2=-6.0, steering_rad=0.0)
    assert scripted[0].speed == pytest.approx(0.0, abs=1e-9)


def test_stalled_vehicle_stands_still_in_the_ego_lane():
    sim = SimEnv(_scenario(events=(StalledVehicle(gap_m=100.0),)))
    frame = sim.reset(seed=0)
    scripted = next(v for v in sim.highway_env.road.vehicles if isinstance(v, ScriptedVehicle))
    assert scripted.lane_index == sim.highway_env.vehicle.lane_index
    assert scripted.position[0] - frame.truth.ego.x_m == pytest.approx(105.0)
    for _ in range(15):
        sim.step(acceleration_mps2=0.0, steering_rad=0.0)
    assert scripted.speed == 0.0


def test_route_from_starts_at_the_lane_edge():
    route = [("a", "b", None), ("b", "c", None), ("c", "d", None)]
    assert route_from(route, ("b", "c", 1)) == route[1:]
    assert route_from(route, ("x", "y", 0)) == []


def test_an_episode_does_not_depend_on_the_episodes_before_it():
    def final_positions(scenario):
        sim = SimEnv(scenario)
        sim.reset(seed=4)
        for _ in range(30):
            frame = sim.step(acceleration_mps2=0.0, steering_rad=0.0).frame
        return [(v.x_m, v.y_m) for v in frame.truth.vehicles]

    highway = _scenario()
    fresh = final_positions(highway)
    final_positions(_scenario(env="intersection-v0", env_config={}))  # edits IDM class constants
    assert final_positions(highway) == fresh
