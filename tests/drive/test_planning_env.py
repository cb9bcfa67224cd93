"""The planning environment: one decision per step, driven through the same closed loop as
``drive rollout`` (:class:`~drive.episode.loop.ClosedLoop`)."""

from __future__ import annotations

import pytest

from drive.training.planning_env import EnvConfig, PlanningEnv
from planning.rl.executor import ACTIONS, INITIAL_CRUISE_MPS, SPEED_STEP_MPS
from planning.rl.reward import COLLISION_PENALTY

pytestmark = pytest.mark.unit

KEEP_FASTER = next(a for a in ACTIONS if a.lane_change == 0 and a.speed_change == 1)


def test_planning_env_steps_one_decision_through_the_controller():
    env = PlanningEnv(EnvConfig(scenario="highway-fast"))
    observation, info = env.reset(options={"episode_seed": 4})
    assert env.observation_space.contains(observation) and info["episode_seed"] == 4
    assert env.steps_per_decision == 5  # 1 s at highway-fast's 5 Hz
    start = env.loop.sim.time_s
    observation, reward, terminated, truncated, info = env.step(ACTIONS.index(KEEP_FASTER))
    assert env.loop.sim.time_s == pytest.approx(start + 1.0)
    assert -COLLISION_PENALTY - 1 <= reward <= 1.0
    assert env.executor.cruise_mps == INITIAL_CRUISE_MPS + SPEED_STEP_MPS
    env.close()


def test_planning_env_episode_ends_with_its_summary():
    env = PlanningEnv(EnvConfig(scenario="highway-fast"))
    env.reset(seed=0)
    done, info = False, {}
    while not done:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
    assert set(info) >= {"episode_crashed", "episode_mean_speed_mps"}
    assert info["episode_crashed"] == terminated
    env.close()
