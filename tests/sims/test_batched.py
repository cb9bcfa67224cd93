"""The batched engine against highway-env: same trajectories, same observation and reward, and the
task's episode handling. Longer statistical checks live in ``drive bench sim``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from highway_env import utils

from sims.batched import physics
from sims.batched.fidelity import TOLERANCE_M, compare_trajectory, make_highway_env
from sims.batched.state import BatchConfig, from_highway_env
from sims.batched.task import BatchedHighway, highway_reward, observe


@pytest.mark.parametrize("ego_control", ["continuous", "meta"])
@pytest.mark.parametrize("seed", [0, 1])
def test_trajectories_match_highway_env(ego_control, seed):
    comparison = compare_trajectory(seed, seconds=4, ego_control=ego_control)
    assert comparison.crash_states_agree
    assert comparison.max_error_m <= TOLERANCE_M


def test_trajectories_match_through_a_collision():
    # With these random meta-actions the ego runs into a vehicle in highway-env (found by search).
    comparison = compare_trajectory(1, seconds=10, ego_control="meta")
    assert comparison.ego_crashed
    assert comparison.within_tolerance


def test_box_collisions_match_highway_env_polygons():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.uniform([-4, -3, -0.6, 0], [4, 3, 0.6, 30])
        b = rng.uniform([-4, -3, -0.6, 0], [4, 3, 0.6, 30])
        dt = 1 / 15

        def polygon(x, y, heading):
            corners = np.array([[-2.5, -1], [-2.5, 1], [2.5, 1], [2.5, -1]]).T
            rotation = np.array(
                [[math.cos(heading), -math.sin(heading)], [math.sin(heading), math.cos(heading)]]
            )
            points = (rotation @ corners).T + np.array([x, y])
            return np.vstack([points, points[:1]])

        velocity_a = a[3] * np.array([math.cos(a[2]), math.sin(a[2])]) * dt
        velocity_b = b[3] * np.array([math.cos(b[2]), math.sin(b[2])]) * dt
        expected = utils.are_polygons_intersecting(
            polygon(*a[:3]), polygon(*b[:3]), velocity_a, velocity_b
        )
        got = physics.box_collisions(
            torch.tensor(a[0] - b[0]),
            torch.tensor(a[1] - b[1]),
            torch.tensor(a[2]),
            torch.tensor(b[2]),
            (torch.tensor(velocity_a[0]), torch.tensor(velocity_a[1])),
            (torch.tensor(velocity_b[0]), torch.tensor(velocity_b[1])),
        )
        assert bool(got[0]) == expected[0]
        assert bool(got[1]) == expected[1]
        if expected[1]:
            assert np.allclose([float(got[2]), float(got[3])], expected[2], atol=1e-9)


def test_observation_and_reward_match_highway_env():
    env = make_highway_env("meta")
    observation, _ = env.reset(seed=3)
    config = BatchConfig(ego_control="meta", collision_window=0)
    for action in (1, 3, 0, 1):
        observation, reward, *_ = env.step(action)
    state = from_highway_env([env], config, device=torch.device("cpu"), dtype=torch.float64)
    assert np.allclose(observe(state, config)[0].numpy(), observation, atol=1e-6)
    assert float(highway_reward(state, config)[0]) == pytest.approx(reward, abs=1e-6)


def test_episodes_end_at_the_time_limit_and_reset_in_place():
    config = BatchConfig(duration_s=3)
    sim = BatchedHighway(4, config, seed=0)
    first = sim.reset(seed=0)
    assert first.shape == (4, 5, 5)
    keep_lane = torch.tensor([[0.0, 0.0]]).repeat(4, 1)
    for _ in range(2):
        result = sim.step(keep_lane)
        assert not result.truncated.any()
    result = sim.step(keep_lane)
    finished = result.truncated & ~result.terminated
    assert finished.any()
    assert (sim.state.steps[finished] == 0).all()
    assert not torch.equal(result.observation[finished], result.final_observation[finished])


def test_float32_and_float64_agree_over_a_second():
    config = BatchConfig()
    fine = BatchedHighway(8, config, dtype=torch.float64, seed=5)
    coarse = BatchedHighway(8, config, dtype=torch.float32, seed=5)
    coarse.state = type(fine.state)(
        **{
            name: value.float() if value.is_floating_point() else value.clone()
            for name, value in vars(fine.state).items()
        }
    )
    action = torch.zeros(8, 2)
    fine.simulate(action)
    coarse.simulate(action)
    assert torch.allclose(coarse.state.x_m.double(), fine.state.x_m, atol=1e-2)


def test_spawn_follows_highway_env_layout():
    sim = BatchedHighway(256, BatchConfig(), dtype=torch.float64, seed=0)
    state = sim.state
    assert (state.speed_mps[:, 0] == 25).all()
    others = state.speed_mps[:, 1:]
    assert others.min() >= 21 and others.max() <= 24
    assert (state.x_m[:, 1:] > state.x_m[:, :-1]).all()  # each vehicle spawns ahead of the last
    assert set(state.lane.unique().tolist()) == {0, 1, 2, 3}


def test_sb3_vecenv_reports_finished_episodes_and_trains():
    from stable_baselines3 import DQN

    from sims.batched.vecenv import BatchedVecEnv

    env = BatchedVecEnv(6, BatchConfig(ego_control="meta", duration_s=2), seed=1)
    env.seed(3)
    observation = env.reset()
    assert observation.shape == (6, 5, 5) and env.action_space.n == 5
    env.step_async(np.full(6, 3))
    env.step_wait()
    env.step_async(np.full(6, 3))
    observation, reward, done, infos = env.step_wait()
    assert done.all() and reward.shape == (6,)
    assert all("terminal_observation" in info for info in infos)
    truncated = [info["TimeLimit.truncated"] for info in infos]
    assert any(truncated)
    model = DQN("MlpPolicy", env, learning_starts=16, buffer_size=256, seed=0, device="cpu")
    model.learn(48)


def test_gymnasium_vector_env_steps_with_same_step_reset():
    from sims.batched.vecenv import BatchedVectorEnv

    env = BatchedVectorEnv(4, BatchConfig(duration_s=1), seed=0)
    observation, _ = env.reset(seed=7)
    assert env.observation_space.shape == (4, 5, 5) and observation.shape == (4, 5, 5)
    observation, reward, terminated, truncated, infos = env.step(env.action_space.sample())
    assert (terminated | truncated).all()
    assert infos["final_obs"].shape == (4, 5, 5) and infos["_final_obs"].all()


def test_wilson_interval_of_a_rate_near_one():
    from sims.batched.fidelity import _wilson, compare_proportions

    rate, low, high = _wilson(np.array([1.0] * 99 + [0.0]))
    assert rate == 0.99
    assert low == pytest.approx(0.9455, abs=1e-4) and high == pytest.approx(0.9982, abs=1e-4)
    same = compare_proportions(np.array([1.0] * 90 + [0.0] * 10), np.array([1.0] * 90 + [0.0] * 10))
    assert same["agree"] and same["difference_ci95"][0] < 0 < same["difference_ci95"][1]
    apart = compare_proportions(np.array([1.0] * 99 + [0.0]), np.array([1.0] * 50 + [0.0] * 50))
    assert not apart["agree"]


def test_lane_masks_find_the_neighbours_highway_env_scans_for():
    from sims.batched.neighbours import ON_LANE_MARGIN_M, lookup, neighbours, station_order

    generator = torch.Generator().manual_seed(3)
    x = torch.rand(32, 51, generator=generator, dtype=torch.float64) * 400
    y = torch.rand(32, 51, generator=generator, dtype=torch.float64) * 14 - 1
    table = neighbours(station_order(x), y, 4)
    env = torch.arange(32)[:, None].expand(32, 51)
    for lane in range(4):
        front, rear = lookup(table, env, table.rank, torch.full_like(env, lane))
        # ``Road.neighbour_vehicles``: the nearest members of the lane at or ahead, and behind.
        member = (y - 4.0 * lane).abs() <= 2.0 + ON_LANE_MARGIN_M
        gap = x[:, None, :] - x[:, :, None]  # [b, i, j]: j's station minus i's
        others = member[:, None, :] & ~torch.eye(51, dtype=torch.bool)
        ahead = torch.where(others & (gap >= 0), gap, torch.inf).min(-1)
        behind = torch.where(others & (gap < 0), -gap, torch.inf).min(-1)
        assert torch.equal(front, torch.where(ahead.values.isfinite(), ahead.indices, -1))
        assert torch.equal(rear, torch.where(behind.values.isfinite(), behind.indices, -1))


@pytest.mark.slow
def test_compiled_engine_steps_like_the_eager_one():
    config = BatchConfig()
    eager = BatchedHighway(64, config, dtype=torch.float64, seed=2)
    compiled = BatchedHighway(64, config, dtype=torch.float64, seed=2, compiled=True)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        action = torch.rand(64, 2, generator=generator) * 2 - 1
        eager.step(action)
        compiled.step(action)
    assert torch.allclose(compiled.state.x_m, eager.state.x_m, atol=1e-9)
    assert torch.equal(compiled.state.crashed, eager.state.crashed)
    assert torch.equal(compiled.state.target_lane, eager.state.target_lane)


def test_config_refuses_more_vehicles_than_a_lane_mask_holds():
    assert BatchConfig(vehicles=62).vehicles == 62
    with pytest.raises(ValueError, match="at most 62 vehicles"):
        BatchConfig(vehicles=63)
