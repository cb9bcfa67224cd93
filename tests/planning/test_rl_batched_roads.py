"""The road interface's planning environment on the batched engine (planning.rl.batched_roads)
against the stack's highway-env path: the same observation of the same scene, and decisions that
do what the executor's do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perception.registry import make_perceiver
from planning.rl.batched_roads import BatchedRoadPlanning
from planning.rl.executor import (
    DEFAULT_EXECUTOR,
    INITIAL_CRUISE_MPS,
    ROAD_ACTIONS,
    SPEED_STEP_MPS,
    PolicyExecutor,
)
from planning.rl.interface import interface_of
from planning.rl.roads_vecenv import RoadSpec, RoadVecEnv
from sims.batched.network import from_highway_env
from sims.env import SimEnv
from sims.scenario import load_scenario

pytestmark = pytest.mark.contract

ROAD = interface_of("road")
SCENARIOS = {  # scenario: highway-env id, destination
    "merge": ("merge-v0", None),
    "roundabout": ("roundabout-v0", "nxr"),
    "exit": ("exit-v0", None),
    "intersection": ("intersection-v0", "o1"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_observation_matches_the_road_interface_of_highway_env_ground_truth(scenario):
    env_id, destination = SCENARIOS[scenario]
    sim = SimEnv(load_scenario(scenario))
    perceiver = make_perceiver("groundtruth")
    executor = PolicyExecutor(safety_layer=False, executor_config=DEFAULT_EXECUTOR)
    task = BatchedRoadPlanning(env_id, 1, destination=destination)
    conflicts = 0
    try:
        for seed in range(3):
            frame = sim.reset(seed=seed)
            for step in range(40):
                if step % 8 == 0:  # along the road, into its junctions
                    scene = perceiver.perceive(frame)
                    expected = ROAD.observe(scene, executor)
                    vehicles = (
                        sim.highway_env.road.vehicles
                    )  # the ego first, as the engine keeps it
                    vehicles.insert(0, vehicles.pop(vehicles.index(sim.highway_env.vehicle)))
                    task.task.state = from_highway_env(
                        [sim.highway_env],
                        task.task.road,
                        rows=task.task.state.x_m.shape[1],
                        route_steps=task.task.state.route_road.shape[2],
                    )
                    task._started(torch.ones(1, dtype=torch.bool))
                    got = task.observe().numpy()[0]
                    np.testing.assert_allclose(
                        got, expected, atol=1e-5, err_msg=f"{scenario} {seed} {step}"
                    )
                    conflicts += expected[0, -3] < 1
                frame = sim.step(acceleration_mps2=0.3, steering_rad=0.0).frame
                if frame.truth.ego.crashed:
                    break
    finally:
        sim.close()
    if scenario in ("roundabout", "intersection"):
        assert conflicts > 0  # the junction column was compared where it says something


def test_decisions_set_the_cruise_speed_and_change_lane_where_the_road_has_lanes():
    task = BatchedRoadPlanning("exit-v0", 8, seed=3)
    task.reset(seed=3)
    left_faster = next(i for i, a in enumerate(ROAD_ACTIONS) if a.label == "left/faster/yield")
    lane = task.task.state.lane[:, 0].clone()
    road = task.task.road
    task.step(torch.full((8,), left_faster))
    assert torch.all(task.cruise_mps == INITIAL_CRUISE_MPS + SPEED_STEP_MPS)
    has_left = road.left[lane] >= 0
    target = task.task.state.target_lane[:, 0]
    alive = ~task.task.state.crashed[:, 0]
    assert torch.all((road.lane_id[target] == road.lane_id[lane] - 1)[has_left & alive])
    assert torch.all((road.lane_id[target] == road.lane_id[lane])[~has_left & alive])


def test_a_yielding_ego_stops_for_crossing_traffic_where_a_going_one_does_not():
    yield_keep = next(i for i, a in enumerate(ROAD_ACTIONS) if a.label == "keep/same/yield")
    go_keep = next(i for i, a in enumerate(ROAD_ACTIONS) if a.label == "keep/same/go")
    speeds = {}
    for name, action in (("yield", yield_keep), ("go", go_keep)):
        task = BatchedRoadPlanning("intersection-v0", 64, destination="o1", seed=5)
        task.reset(seed=5)
        slowest = torch.full((64,), torch.inf, dtype=torch.float64)
        for _ in range(8):
            task.step(torch.full((64,), action))
            slowest = torch.minimum(slowest, task.task.state.speed_mps[:, 0])
        speeds[name] = slowest
    assert float((speeds["yield"] < 1.0).float().mean()) > float(
        (speeds["go"] < 1.0).float().mean()
    )


def test_vec_env_runs_episodes_of_several_roads_and_reports_them():
    env = RoadVecEnv(
        [RoadSpec("merge-v0"), RoadSpec("roundabout-v0", destination="nxr")], envs_per_road=4
    )
    assert env.num_envs == 8
    observation = env.reset()
    assert observation.shape == (8, *ROAD.observation_shape)
    finished = []
    for _ in range(20):
        observation, reward, done, infos = env.step(np.zeros(8, dtype=np.int64))
        assert np.isfinite(observation).all() and np.isfinite(reward).all()
        finished += [info for info in infos if "episode_crashed" in info]
    assert finished and all("episode_mean_speed_mps" in info for info in finished)
    assert {info["scenario"] for info in finished} <= {"merge-v0", "roundabout-v0"}


def test_a_step_observes_restarted_scenes_as_a_fresh_observation_would():
    # Only the scenes that restart are observed again after a step; every row of the observation
    # returned must still be what observing the whole batch gives. (On the roundabout nothing
    # changes after the observation; at the intersection traffic comes and goes after it, in
    # highway-env's order, IntersectionEnv.step.)
    task = BatchedRoadPlanning("roundabout-v0", 32, destination="nxr", seed=7)
    task.reset(seed=7)
    generator = torch.Generator().manual_seed(7)
    restarted = 0
    for _ in range(14):
        action = torch.randint(len(ROAD_ACTIONS), (32,), generator=generator)
        result = task.step(action)
        restarted += int((result.terminated | result.truncated).sum())
        torch.testing.assert_close(result.observation, task.observe().float())
    assert restarted > 0
