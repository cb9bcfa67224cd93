"""The planning environment on the batched engine against the one in highway-env: same observation
from the same scene, same decisions' meaning, and the VecEnv that ``drive train --sim batched`` uses."""

from __future__ import annotations

import numpy as np
import torch

from perception.registry import make_perceiver
from planning.rl.batched import BatchedPlanning, PlanningVecEnv, encode_batch
from planning.rl.encoding import encode
from planning.rl.executor import ACTIONS, INITIAL_CRUISE_MPS, SPEED_STEP_MPS
from sims.batched.state import BatchConfig, from_highway_env
from sims.env import SimEnv
from sims.scenario import load_scenario

LEFT_FASTER = next(i for i, a in enumerate(ACTIONS) if a.label == "left/faster")
RIGHT_SAME = next(i for i, a in enumerate(ACTIONS) if a.label == "right/same")
KEEP_SAME = next(i for i, a in enumerate(ACTIONS) if a.label == "keep/same")


def test_observation_matches_the_encoding_of_highway_env_ground_truth():
    sim = SimEnv(load_scenario("highway"))
    perceiver = make_perceiver("groundtruth")
    config = BatchConfig(ego_control="follow")
    try:
        for seed in range(4):
            frame = sim.reset(seed=seed)
            for _ in range(seed * 5):  # move away from the initial grid
                frame = sim.step(acceleration_mps2=0.5, steering_rad=0.01 * (seed - 1)).frame
            expected = encode(perceiver.perceive(frame), cruise_mps=27.5, changing_direction=-1)
            state = from_highway_env(
                [sim.highway_env], config, device=torch.device("cpu"), dtype=torch.float64
            )
            got = encode_batch(state, config, torch.tensor([27.5]), torch.tensor([-1])).numpy()[0]
            np.testing.assert_allclose(got, expected, atol=1e-5)
    finally:
        sim.close()


def test_decisions_change_lane_and_cruise_as_the_executor_does():
    task = BatchedPlanning(8, seed=3)
    task.reset(seed=3)
    lane = task.state.lane[:, 0].clone()
    task.step(torch.full((8,), LEFT_FASTER))
    can_go_left = lane > 0
    assert torch.all(task.cruise_mps == INITIAL_CRUISE_MPS + SPEED_STEP_MPS)
    moved_or_ended = (task.state.target_lane[:, 0] == lane - 1) | task.state.crashed[:, 0]
    assert torch.all(moved_or_ended[can_go_left])
    assert torch.all(task.state.target_lane[~can_go_left, 0] == 0)
    # A second request while a change is under way is ignored, as PolicyExecutor.decide does.
    changing = task.changing_direction() != 0
    target = task.state.target_lane[:, 0].clone()
    task.step(torch.full((8,), RIGHT_SAME))
    assert torch.all(task.state.target_lane[changing, 0] == target[changing])


def test_vec_env_reports_finished_episodes_with_their_summary():
    env = PlanningVecEnv(4, seed=0)
    env.task.config = BatchConfig(ego_control="follow", duration_s=3)
    observation = env.reset()
    assert observation.shape == (4, 11, 7)
    for _ in range(3):
        env.step_async(np.full(4, KEEP_SAME))
        observation, reward, done, infos = env.step_wait()
    assert done.all()
    for info in infos:
        assert info["episode_mean_speed_mps"] > 15
        assert "terminal_observation" in info and "TimeLimit.truncated" in info
    assert np.all(reward <= 1.0)
