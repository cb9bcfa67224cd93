"""intersection-v0's regulated junction as batched functions, against highway-env's own on live
scenes: predicted paths, conflicts and who yields."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from highway_env.road.regulation import RegulatedRoad
from highway_env.vehicle.controller import ControlledVehicle

from sims.batched import regulation, roads
from sims.batched.network import from_highway_env
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


def _predictions(unwrapped, road, state):
    count = len(unwrapped.road.vehicles)
    times = regulation.prediction_times("cpu", torch.float64)
    lanes = regulation.route_lanes(
        road, state.lane[0, :count], state.route_road[0, :count], state.route_lane[0, :count],
        state.route_head[0, :count],
    )  # fmt: skip
    routed = regulation.predict_along_route(
        road, state.lane[0, :count], lanes, state.x_m[0, :count], state.y_m[0, :count],
        state.speed_mps[0, :count], times,
    )  # fmt: skip
    held = regulation.predict_constant_steering(
        state.x_m[0, :count], state.y_m[0, :count], state.heading_rad[0, :count],
        state.speed_mps[0, :count],
        torch.tensor([float(v.action["steering"]) for v in unwrapped.road.vehicles],
                     dtype=torch.float64),
        state.crashed[0, :count], times,
    )  # fmt: skip
    controlled = torch.tensor([isinstance(v, ControlledVehicle) for v in unwrapped.road.vehicles])[
        :, None
    ]
    return tuple(torch.where(controlled, a, b) for a, b in zip(routed, held, strict=True))


def test_predicted_paths_match_highway_env(scene):
    unwrapped, road, state = scene
    x, y, heading = _predictions(unwrapped, road, state)
    times = np.arange(0.25, 3.0, 0.25)
    for row, vehicle in enumerate(unwrapped.road.vehicles):
        positions, headings = vehicle.predict_trajectory_constant_speed(times)
        np.testing.assert_allclose(x[row].numpy(), np.array(positions)[:, 0], atol=1e-9)
        np.testing.assert_allclose(y[row].numpy(), np.array(positions)[:, 1], atol=1e-9)
        np.testing.assert_allclose(heading[row].numpy(), np.array(headings), atol=1e-9)


def test_conflicts_and_yielding_match_highway_env(scene):
    unwrapped, road, state = scene
    x, y, heading = _predictions(unwrapped, road, state)
    vehicles = unwrapped.road.vehicles
    pairs = list(itertools.combinations(range(len(vehicles)), 2))
    first = torch.tensor([i for i, _ in pairs])
    second = torch.tensor([j for _, j in pairs])
    size = (state.length_m[0], state.width_m[0])
    got = regulation.conflicts(
        (x[first], y[first], heading[first]),
        (x[second], y[second], heading[second]),
        (size[0][first], size[1][first]),
        (size[0][second], size[1][second]),
    )
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
