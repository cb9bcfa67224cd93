"""intersection-v0's regulated junction as batched functions, against highway-env's own on live
scenes: predicted paths, conflicts and who yields."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from highway_env.road.regulation import RegulatedRoad

from sims.batched import regulation, roads
from sims.batched.network import from_highway_env
from sims.batched.network_task import BatchedRoads
from sims.environments import ENVIRONMENTS, restore_behaviour_defaults

# (seed, policy steps of IDLE): scenes with one, three and one conflicting pairs (found by search).
SCENES = [(0, 3), (4, 3), (5, 5)]


@pytest.fixture(scope="module", params=SCENES)
def scene(request):
    seed, steps = request.param
    restore_behaviour_defaults()
    env = ENVIRONMENTS["intersection-v0"]()
    env.reset(seed=seed)
    for _ in range(steps):  # let the traffic reach the junction
        env.step(1)
    restore_behaviour_defaults()  # intersection-v0 edits highway-env's traffic constants
    # The engine keeps the ego in row 0; intersection-v0 adds it last. Pairs are compared both
    # ways below, so the order of the list does not matter to these checks.
    vehicles = env.unwrapped.road.vehicles
    vehicles.insert(0, vehicles.pop(vehicles.index(env.unwrapped.vehicle)))
    road = roads.from_network(env.unwrapped.road.network)
    return env.unwrapped, road, from_highway_env([env], road)


def _predictions(state, road):
    """The engine's predicted paths of the scene's rows and their pre-test, as the engine runs."""
    return regulation.predicted_paths(state, road, torch.tensor([0]))


def test_predicted_paths_match_highway_env(scene):
    unwrapped, road, state = scene
    x, y, heading, _ = _predictions(state, road)
    times = np.arange(0.25, 3.0, 0.25)
    for row, vehicle in enumerate(unwrapped.road.vehicles):
        positions, headings = vehicle.predict_trajectory_constant_speed(times)
        np.testing.assert_allclose(x[row].numpy(), np.array(positions)[:, 0], atol=1e-9)
        np.testing.assert_allclose(y[row].numpy(), np.array(positions)[:, 1], atol=1e-9)
        np.testing.assert_allclose(heading[row].numpy(), np.array(headings), atol=1e-9)


def test_conflicts_and_yielding_match_highway_env(scene):
    unwrapped, road, state = scene
    x, y, heading, near = _predictions(state, road)
    vehicles = unwrapped.road.vehicles
    pairs = list(itertools.combinations(range(len(vehicles)), 2))
    first = torch.tensor([i for i, _ in pairs])
    second = torch.tensor([j for _, j in pairs])
    rows = state.x_m.shape[1]
    _, every_second = torch.triu_indices(rows, rows, offset=1)
    hit = regulation.conflicts((x, y, heading), near, state.length_m, state.width_m)
    got = hit[0, every_second < len(vehicles)]  # the pairs of vehicles, in the same order
    expected = [
        bool(RegulatedRoad.is_conflict_possible(vehicles[i], vehicles[j])) for i, j in pairs
    ]
    assert got.tolist() == expected
    assert any(expected)  # each scene was chosen for its conflicts
    priority = road.priority[state.lane[0]]
    now = (state.x_m[0], state.y_m[0], state.heading_rad[0])
    yields = regulation.first_yields(
        priority[first], priority[second],
        tuple(value[first] for value in now), tuple(value[second] for value in now),
    )  # fmt: skip
    for (i, j), first_yields in zip(pairs, yields.tolist(), strict=True):
        yielding = RegulatedRoad.respect_priorities(vehicles[i], vehicles[j])
        assert (yielding is vehicles[i]) == first_yields


def test_boxes_intersect_like_highway_env():
    from highway_env import utils

    rng = np.random.default_rng(0)
    for _ in range(300):
        a = rng.uniform([-5, -5, 2, 1, -np.pi], [5, 5, 8, 3, np.pi])
        b = rng.uniform([-5, -5, 2, 1, -np.pi], [5, 5, 8, 3, np.pi])
        expected = utils.rotated_rectangles_intersect(
            (a[:2], a[2], a[3], a[4]), (b[:2], b[2], b[3], b[4])
        )
        got = regulation.boxes_intersect(
            tuple(torch.tensor(value) for value in a), tuple(torch.tensor(value) for value in b)
        )
        assert bool(got) == expected


def test_scenes_predicted_in_chunks_decide_as_all_at_once():
    """The predictions take the due scenes a fixed number at a time, the last chunk padded with
    copies of its last scene (so that one compiled graph serves a run): the decisions are those
    of all the scenes at once."""
    engine = BatchedRoads("intersection-v0", 300, dtype=torch.float64, seed=3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        engine.step(torch.rand(300, 2, generator=generator) * 2 - 1)
    every = torch.arange(300)
    decided = []
    for chunk in (0, 128):
        state = engine.state.scenes(every)  # a copy: indexing with a tensor copies
        regulation.enforce_road_rules(state, engine.road, every, chunk=chunk)
        decided.append(state)
    assert int(decided[0].yielding.sum()) > 10  # enough conflicts for the check to bite
    for name in ("target_speed_mps", "yielding", "yield_timer"):
        assert torch.equal(getattr(decided[0], name), getattr(decided[1], name))


def test_scenes_per_prediction_covers_the_share_due():
    assert regulation.scenes_per_prediction(4096, 7) == 768  # 1.25 * 4096 / 7 = 731.4
    assert regulation.scenes_per_prediction(64, 7) == regulation.FEWEST_SCENES
