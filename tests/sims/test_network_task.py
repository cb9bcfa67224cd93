"""The tasks of highway-env's roads on the batched engine: the same observation, reward and episode
end as highway-env from the same scene, initial scenes drawn from highway-env's distributions, and
automatic resets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sims.batched import intersection, roads
from sims.batched.network import from_highway_env
from sims.batched.network_fidelity import RACETRACK_ACTION, make_environment, reset
from sims.batched.network_task import BatchedRoads, check_honoured
from sims.strict import ConfigError

ROADS = ["merge-v0", "roundabout-v0", "exit-v0", "intersection-v0", "highway-v0", "racetrack-v0"]
CASES = [
    *[(env_id, control, None) for env_id in ROADS for control in ("continuous", "meta")],
    # racetrack-v0's own action: steering only (highway-env places no meta-action ego there)
    ("racetrack-v0", "continuous", {"action": RACETRACK_ACTION}),
    # every layer of the grid, as an image, in world axes, one speed ranged and one left raw
    (
        "racetrack-v0",
        "continuous",
        {
            "observation": {
                "type": "OccupancyGrid",
                "features": ["presence", "vx", "vy", "on_road"],
                "features_range": {"vx": [-20, 20]},
                "grid_size": [[-18, 18], [-18, 18]],
                "grid_step": [3, 3],
                "as_image": True,
            },
            "other_vehicles": 3,
        },
    ),
]
CASES.remove(("racetrack-v0", "meta", None))


@pytest.mark.parametrize(("env_id", "ego_control", "config"), CASES)
def test_observation_reward_and_end_match_highway_env(env_id, ego_control, config):
    """racetrack-v0's observation is an occupancy grid: the cells and the road layer as well."""
    for seed in (0, 1):
        task = BatchedRoads(
            env_id, 1, ego_control=ego_control, dtype=torch.float64, env_config=config
        )
        env = make_environment(env_id, ego_control, config)
        reset(env, seed)
        vehicles = env.unwrapped.road.vehicles  # the ego first, as the engine keeps it
        vehicles.insert(0, vehicles.pop(vehicles.index(env.unwrapped.vehicle)))
        task.state = from_highway_env(
            [env],
            roads.from_network(env.unwrapped.road.network),
            rows=task.state.x_m.shape[1],
            route_steps=task.state.route_road.shape[-1],
        )
        task.ego_road_lanes = task.road.road_lanes[task.state.lane[:, 0]]
        rng = np.random.default_rng(seed)
        # intersection-v0's vehicles come and go at random after each step: its first step only.
        for _ in range(1 if env_id == "intersection-v0" else 3):
            if ego_control == "continuous":
                action = rng.uniform(-1, 1, sum(task.action_axes))
                batch = torch.tensor(action[None])
            else:
                action = int(rng.integers(len(task.config.meta_actions)))
                batch = torch.tensor([action])
            result = task.step(batch)
            observation, reward, terminated, truncated, _ = env.step(action)
            got = result.final_observation[0].numpy()
            assert got.dtype == observation.dtype
            np.testing.assert_allclose(got, observation, atol=1e-6)
            assert float(result.reward[0]) == pytest.approx(reward, abs=1e-6)
            assert bool(result.terminated[0]) == terminated
            assert bool(result.truncated[0]) == truncated
            if terminated or truncated:
                break


@pytest.mark.parametrize("env_id", [*ROADS[:3], "highway-v0", "racetrack-v0"])
def test_initial_scenes_follow_highway_env_distributions(env_id):
    """Each vehicle's mean position and speed over 60 highway-env resets lies within five
    standard errors of the engine's mean over 2,000 drawn scenes."""
    env = make_environment(env_id, "continuous")
    scenes = []
    for seed in range(60):
        reset(env, seed)
        scenes.append([(*v.position, v.speed) for v in env.unwrapped.road.vehicles])
    expected = np.array(scenes)
    task = BatchedRoads(env_id, 2000, dtype=torch.float64, seed=3)
    state = task.state
    count = expected.shape[1]
    drawn = torch.stack([state.x_m, state.y_m, state.speed_mps], -1)[:, :count].numpy()
    error = drawn.std(0) / np.sqrt(len(expected)) + 1e-9
    assert (np.abs(expected.mean(0) - drawn.mean(0)) <= 5 * error).all()


def test_intersection_scenes_follow_highway_env_distributions():
    """intersection-v0's scenes come from three seconds of traffic, so vehicles differ in number
    and place: the vehicle count, the ego's place and the traffic's mean speed over 20 resets (each
    runs highway-env's three seconds of traffic) lie within five standard errors of the engine's
    over 300 drawn scenes."""
    env = make_environment("intersection-v0", "meta")
    rows = []
    for seed in range(20):
        reset(env, seed)
        unwrapped = env.unwrapped
        others = [v.speed for v in unwrapped.road.vehicles if v is not unwrapped.vehicle]
        position = unwrapped.vehicle.position
        rows.append((len(unwrapped.road.vehicles), position[1], np.mean(others) if others else 8.0))
    expected = np.array(rows)
    state = BatchedRoads("intersection-v0", 300, ego_control="meta", dtype=torch.float64).state
    vehicles = state.present & ~state.static
    traffic = vehicles.clone()
    traffic[:, 0] = False
    speed = (state.speed_mps * traffic).sum(1) / traffic.sum(1).clamp(min=1)
    speed = torch.where(traffic.any(1), speed, 8.0)
    drawn = torch.stack([vehicles.sum(1).double(), state.y_m[:, 0], speed], 1).numpy()
    error = np.sqrt(expected.var(0) / len(expected) + drawn.var(0) / len(drawn)) + 1e-9
    assert (np.abs(expected.mean(0) - drawn.mean(0)) <= 5 * error).all()


def test_intersection_warm_up_keeps_the_egos_row_empty():
    """While intersection-v0's traffic warms up without the ego, no vehicle takes row 0, where it
    would drive with the ego's commands instead of as traffic; the ego is then placed there."""
    engine = BatchedRoads("intersection-v0", 8, dtype=torch.float64)
    like = torch.zeros(8, dtype=torch.float64)
    state = intersection._empty(engine.spawner, 8, like)
    generator = torch.Generator().manual_seed(0)
    for longitudinal in (0.0, 40.0):
        intersection.spawn_vehicle(
            state, engine.spawner, generator, longitudinal_m=longitudinal, probability=1.0
        )
    assert not bool(state.present[:, 0].any())
    assert bool(state.present[:, 1:3].all())
    assert bool(engine.state.present[:, 0].all()) and not bool(engine.state.idm[:, 0].any())


def test_finished_episodes_restart_in_the_same_step():
    task = BatchedRoads("roundabout-v0", 64, dtype=torch.float32, seed=0)
    ended = torch.zeros(64, dtype=torch.bool)
    for _ in range(task.config.max_steps):
        result = task.step(torch.rand(64, 2) * 2 - 1)
        done = result.terminated | result.truncated
        ended |= done
        assert (task.state.steps[done] == 0).all()
    assert ended.all()  # roundabout-v0 lasts 11 s: every episode has ended once
    assert not task.state.crashed[:, 0][task.state.steps == 0].any()


def test_restarts_take_scenes_drawn_a_batch_ahead_in_order():
    task = BatchedRoads("merge-v0", 4, dtype=torch.float64, seed=3)
    twin = BatchedRoads("merge-v0", 4, dtype=torch.float64, seed=3)
    first = torch.tensor([True, False, True, False])
    task.restart(first)
    drawn = twin._spawn(4)  # the batch the first restart drew, from the same generator state
    assert torch.equal(task.state.x_m[first], drawn.x_m[:2])
    second = torch.tensor([False, True, False, False])
    task.restart(second)  # the third scene of that batch: nothing new is drawn
    assert torch.equal(task.state.x_m[second], drawn.x_m[2:3])
    assert torch.equal(task.generator.get_state(), twin.generator.get_state())
    task.reset(seed=3)  # a reset draws afresh, and forgets the scenes drawn ahead
    twin.reset(seed=3)
    task.restart(first)
    twin.restart(first)
    assert torch.equal(task.state.x_m, twin.state.x_m)


def test_an_unknown_road_is_refused_by_name():
    with pytest.raises(ValueError, match="u-turn-v0"):
        BatchedRoads("u-turn-v0", 2)


def test_racetrack_refuses_a_meta_action_ego_by_name():
    with pytest.raises(ValueError, match="racetrack-v0 takes a continuous ego only, not 'meta'"):
        BatchedRoads("racetrack-v0", 2, ego_control="meta")


def test_racetrack_without_other_vehicles_has_no_car_ahead():
    task = BatchedRoads("racetrack-v0", 8, dtype=torch.float64, env_config={"other_vehicles": 0})
    assert task.state.present[:, 0].all() and not task.state.present[:, 1:].any()


def test_the_engine_refuses_what_it_cannot_drive_by_name():
    with pytest.raises(ConfigError, match="controlled_vehicles = 2"):
        check_honoured({"controlled_vehicles": 2}, source="scenario 'x'")
    task = BatchedRoads("racetrack-v0", 2, env_config={"action": RACETRACK_ACTION})
    with pytest.raises(ValueError, match=r"steering alone: \(2, 1\) actions, not \(2, 2\)"):
        task.step(torch.zeros(2, 2))


def test_racetrack_places_the_other_cars_apart():
    """With ``other_vehicles`` 4, up to three more cars on random lanes, none within 20 m of one
    placed before it; the rest of the rows are padding."""
    task = BatchedRoads(
        "racetrack-v0", 500, dtype=torch.float64, seed=1, env_config={"other_vehicles": 4}
    )
    state = task.state
    extra = state.present[:, 2:].sum(1)
    assert state.present[:, :2].all() and int(extra.max()) == 3 and int(extra.min()) == 0
    dx = state.x_m[:, :, None] - state.x_m[:, None, :]
    dy = state.y_m[:, :, None] - state.y_m[:, None, :]
    pair = state.present[:, :, None] & state.present[:, None, :]
    pair[:, 0, 1] = pair[:, 1, 0] = False  # the car ahead may start close to the ego
    pair &= ~torch.eye(state.x_m.shape[1], dtype=torch.bool)
    assert (torch.sqrt(dx * dx + dy * dy)[pair] >= 20).all()


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ROADS)
def test_compiled_engine_steps_like_the_eager_one(env_id):
    eager = BatchedRoads(env_id, 64, dtype=torch.float64, seed=2)
    compiled = BatchedRoads(env_id, 64, dtype=torch.float64, seed=2, compiled=True)
    generator = torch.Generator().manual_seed(0)
    for _ in range(4):
        action = torch.rand(64, 2, generator=generator) * 2 - 1
        eager.step(action)
        compiled.step(action)
    assert torch.allclose(compiled.state.x_m, eager.state.x_m, atol=1e-9)
    assert torch.allclose(compiled.observe(), eager.observe(), atol=1e-6)  # racetrack's compiled
    assert torch.equal(compiled.state.crashed, eager.state.crashed)
    assert torch.equal(compiled.state.target_lane, eager.state.target_lane)
