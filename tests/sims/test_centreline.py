"""The engine's centrelines and lane ends (sims.batched.centreline) against the stack's ground truth
(sims.groundtruth.lane_geometry), on every road the engine drives, with and without a route."""

from __future__ import annotations

import gymnasium as gym
import highway_env  # noqa: F401  (registers the environments)
import numpy as np
import pytest
import torch

from sims.batched import roads
from sims.batched.centreline import centrelines, followed_lane, lane_end_m
from sims.groundtruth import CENTRELINE_STEP_M, drivable_lanes, lane_geometry
from sims.groundtruth import followed_lane as followed_lane_of

pytestmark = pytest.mark.unit


def _routes(net, table, rng):
    """Random points on every lane, each with a route to a random node that can be reached."""
    cases = []
    for name, lane in net.lanes_dict().items():
        for _ in range(6):
            x, y = lane.position(rng.uniform(0, lane.length), rng.uniform(-1.5, 1.5))
            ends = [node for node in net.graph if net.shortest_path(name[1], node)]
            route: list = []
            if ends and rng.uniform() < 0.7:
                path = [name[0], *net.shortest_path(name[1], ends[rng.integers(len(ends))])]
                route = [(a, b, None) for a, b in zip(path[:-1], path[1:], strict=True)]
            cases.append((name, np.array([x, y]), route))
    return cases


def test_centrelines_equal_the_ground_truths_lane_geometry(network):
    table = roads.from_network(network)
    cases = _routes(network, table, np.random.default_rng(1))
    steps = max(1, max(len(route) for _, _, route in cases))

    def route_tensor(route):
        numbers = [table.road_number(a, b) for a, b, _ in route]
        return numbers + [roads.NONE] * (steps - len(numbers))

    lane = torch.tensor([table.index(name) for name, _, _ in cases])
    x = torch.tensor([point[0] for _, point, _ in cases], dtype=torch.float64)
    y = torch.tensor([point[1] for _, point, _ in cases], dtype=torch.float64)
    route_road = torch.tensor([route_tensor(route) for _, _, route in cases])
    got = centrelines(table, lane, x, y, route_road, torch.full_like(route_road, roads.NONE))
    ends = lane_end_m(table, lane, x, y)
    for k, (name, point, route) in enumerate(cases):
        geometry = lane_geometry(network, name, point, route)
        assert ends[k].item() == pytest.approx(geometry.end_station_m, abs=1e-6), name
        expected = geometry.centreline
        np.testing.assert_allclose(got.x_m[k].numpy(), expected.x_m, atol=1e-6, err_msg=str(name))
        np.testing.assert_allclose(got.y_m[k].numpy(), expected.y_m, atol=1e-6, err_msg=str(name))
        np.testing.assert_allclose(got.station_m[k].numpy(), expected.station_m)
        heading = got.heading_rad[k].numpy()
        # unwrapped from the same first heading up to a whole turn
        turns = np.round((heading[0] - expected.heading_rad[0]) / (2 * np.pi)) * 2 * np.pi
        np.testing.assert_allclose(heading - turns, expected.heading_rad, atol=1e-6)


def _forks(net, rng):
    """Random points near every lane, each with a route that leaves the lane's start node by a
    random edge (often another than the lane's own: a fork the vehicle is past)."""
    cases = []
    for name, lane in net.lanes_dict().items():
        for _ in range(4):
            x, y = lane.position(rng.uniform(-3, lane.length + 3), rng.uniform(-3, 3))
            ends = list(net.graph[name[0]])
            first = ends[rng.integers(len(ends))]
            lane_id = (
                None if rng.uniform() < 0.7 else int(rng.integers(len(net.graph[name[0]][first])))
            )
            route = [(name[0], first, lane_id)]
            reachable = [n for n in net.graph if n != first and net.shortest_path(first, n)]
            if reachable:
                path = net.shortest_path(first, reachable[rng.integers(len(reachable))])
                route += [(a, b, None) for a, b in zip(path[:-1], path[1:], strict=True)]
            if rng.uniform() < 0.2:
                route = []
            cases.append((name, np.array([x, y]), route))
    return cases


def test_the_engines_followed_lane_equals_the_ground_truths(network):
    table = roads.from_network(network)
    cases = _forks(network, np.random.default_rng(2))
    steps = max(1, max(len(route) for _, _, route in cases))

    def padded(values):
        return values + [roads.NONE] * (steps - len(values))

    lane = torch.tensor([table.index(name) for name, _, _ in cases])
    x = torch.tensor([point[0] for _, point, _ in cases], dtype=torch.float64)
    y = torch.tensor([point[1] for _, point, _ in cases], dtype=torch.float64)
    route_road = torch.tensor(
        [padded([table.road_number(a, b) for a, b, _ in r]) for *_, r in cases]
    )
    route_lane = torch.tensor(
        [padded([roads.NONE if k is None else k for *_, k in r]) for *_, r in cases]
    )
    got = followed_lane(table, lane, x, y, route_road, route_lane)
    expected = [table.index(followed_lane_of(network, *case)) for case in cases]
    assert got.tolist() == expected
    moved = sum(e != table.index(name) for e, (name, _, _) in zip(expected, cases, strict=True))
    forks = max(len(ends) for ends in network.graph.values()) > 1  # exit, roundabout, intersection
    assert (moved > 0) == forks  # the cases reach the rule wherever the road forks


def _roundabout():
    env = gym.make("roundabout-v0")
    env.reset(seed=0)
    network = env.unwrapped.road.network
    env.close()
    return network


EXIT_ROUTE = [("ee", "nx", None), ("nx", "nxs", None), ("nxs", "nxr", None)]


def test_past_the_seam_of_the_ring_and_an_exit_the_ego_follows_its_route_into_the_exit():
    """roundabout-v0: past the end of the ring's outer lane at node nx, the next ring segment is
    nearer than the exit; on a route through the exit the exit is followed, else the ring."""
    net = _roundabout()
    ring = net.get_lane(("ee", "nx", 1))
    point = ring.position(ring.length + 2.0, 0.8)  # where seed 100002's ego was at step 180
    closest = net.get_closest_lane_index(point, ring.heading_at(ring.length))
    assert closest[:2] == ("nx", "ne")
    assert followed_lane_of(net, closest, point, EXIT_ROUTE) == ("nx", "nxs", 0)
    assert followed_lane_of(net, closest, point, []) == closest
    assert followed_lane_of(net, ("ee", "nx", 1), point, EXIT_ROUTE) == ("ee", "nx", 1)


def test_the_centreline_crosses_the_seam_to_an_exit_on_the_road():
    """roundabout-v0's exit starts 5.6 m from the end of the ring's outer lane and 3 m to its side:
    the centreline into the exit crosses on the connector, every sample on the drivable area, and
    the engine samples the same."""
    net = _roundabout()
    ring = net.get_lane(("ee", "nx", 1))
    point = ring.position(ring.length - 10.0, 0.0)
    line = lane_geometry(net, ("ee", "nx", 1), point, EXIT_ROUTE).centreline
    ahead = (line.station_m >= 0) & (line.station_m <= 40)
    drivable = drivable_lanes(net)
    for x, y in zip(line.x_m[ahead], line.y_m[ahead], strict=True):
        assert any(lane.on_lane(np.array([x, y]), margin=0.0) for lane in drivable), (x, y)
    exit_start = net.get_lane(("nx", "nxs", 0)).position(0.0, 0.0)
    assert np.min(np.hypot(line.x_m - exit_start[0], line.y_m - exit_start[1])) < 1.0
    # No jump: the samples stay about 2 m apart (a sine lane's s runs along its axis, so up to
    # 2.11 m on the exit); going on at the exit's point abreast of the ring's end jumps 4.2 m.
    spacing = np.hypot(np.diff(line.x_m[ahead]), np.diff(line.y_m[ahead]))
    assert spacing.max() <= 1.1 * CENTRELINE_STEP_M
    table = roads.from_network(net)
    route_road = torch.tensor([[table.road_number(a, b) for a, b, _ in EXIT_ROUTE]])
    got = centrelines(
        table,
        torch.tensor([table.index(("ee", "nx", 1))]),
        torch.tensor([point[0]], dtype=torch.float64),
        torch.tensor([point[1]], dtype=torch.float64),
        route_road,
        torch.full_like(route_road, roads.NONE),
    )
    np.testing.assert_allclose(got.x_m[0].numpy(), line.x_m, atol=1e-9)
    np.testing.assert_allclose(got.y_m[0].numpy(), line.y_m, atol=1e-9)
