"""The engine's centrelines and lane ends (sims.batched.centreline) against the stack's ground truth
(sims.groundtruth.lane_geometry), on every road the engine drives, with and without a route."""

from __future__ import annotations

import highway_env  # noqa: F401  (registers the environments)
import numpy as np
import pytest
import torch

from sims.batched import roads
from sims.batched.centreline import centrelines, lane_end_m
from sims.groundtruth import lane_geometry

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
