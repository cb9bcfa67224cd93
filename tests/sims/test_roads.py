"""The road network as tensors against highway-env's own lanes, on every road of the suite."""

from __future__ import annotations

import highway_env  # noqa: F401  (registers the environments)
import numpy as np
import pytest
import torch

from sims.batched import roads
from sims.batched.network_fidelity import NETWORK_ENVIRONMENTS

ENVIRONMENTS = list(NETWORK_ENVIRONMENTS)  # every road the engine drives
TOLERANCE = 1e-9


def _real(value):
    return torch.tensor(value, dtype=torch.float64)


def _points(net, rng, count=40):
    """Points on and around every lane: before, along and after it, off its centre."""
    rows = []
    for name, lane in net.lanes_dict().items():
        for _ in range(count):
            longitudinal = rng.uniform(-10, lane.length + 10)
            lateral = rng.uniform(-6, 6)
            x, y = lane.position(longitudinal, lateral)
            rows.append((name, lane, longitudinal, lateral, x, y, rng.uniform(-np.pi, np.pi)))
    return rows


def test_lane_geometry_matches_highway_env(network):
    table = roads.from_network(network)
    rng = np.random.default_rng(0)
    for name, lane, longitudinal, lateral, x, y, _ in _points(network, rng):
        view = roads.LaneView.of(table, torch.tensor(table.index(name)))
        s, r = roads.local_coordinates(view, _real(x), _real(y))
        expected_s, expected_r = lane.local_coordinates(np.array([x, y]))
        assert float(s) == pytest.approx(expected_s, abs=TOLERANCE), name
        assert float(r) == pytest.approx(expected_r, abs=TOLERANCE), name
        px, py = roads.position(view, _real(longitudinal), _real(lateral))
        assert (float(px), float(py)) == pytest.approx((x, y), abs=TOLERANCE), name
        heading = roads.heading_at(view, _real(longitudinal))
        assert float(heading) == pytest.approx(lane.heading_at(longitudinal), abs=TOLERANCE), name
        on = roads.on_lane(view, s, r, 1.0)
        assert bool(on) == lane.on_lane(np.array([x, y]), expected_s, expected_r, margin=1), name
        reachable = roads.is_reachable_from(table, torch.tensor(table.index(name)), s, r)
        assert bool(reachable) == lane.is_reachable_from(np.array([x, y])), name


def test_closest_lane_matches_highway_env(network):
    table = roads.from_network(network)
    rows = _points(network, np.random.default_rng(1), count=10)
    x = _real([row[4] for row in rows])
    y = _real([row[5] for row in rows])
    heading = _real([row[6] for row in rows])
    got = roads.closest_lane(table, x, y, heading)
    for (_, _, _, _, px, py, h), lane in zip(rows, got.tolist(), strict=True):
        expected = network.get_closest_lane_index(np.array([px, py]), h)
        assert table.names[lane] == (str(expected[0]), str(expected[1]), int(expected[2]))


def test_next_lane_matches_highway_env(network):
    table = roads.from_network(network)
    rng = np.random.default_rng(2)
    for name, lane in network.lanes_dict().items():
        for _ in range(5):
            x, y = lane.position(lane.length + rng.uniform(-3, 3), rng.uniform(-2, 2))
            expected = network.next_lane(name, route=None, position=np.array([x, y]))
            got = roads.next_lane(table, torch.tensor(table.index(name)), _real(x), _real(y))
            assert table.names[int(got)] == (str(expected[0]), str(expected[1]), int(expected[2]))


def test_next_lane_follows_a_route(network):
    table = roads.from_network(network)
    for name, lane in network.lanes_dict().items():
        x, y = lane.position(lane.length, 0.0)
        for next_to in network.graph.get(name[1], {}):
            route = [(name[1], next_to, None)]
            expected = network.next_lane(name, route=list(route), position=np.array([x, y]))
            got = roads.next_lane(
                table,
                torch.tensor(table.index(name)),
                _real(x),
                _real(y),
                next_road=torch.tensor(table.road_number(name[1], next_to)),
                next_lane_id=torch.tensor(roads.NONE),
            )
            assert table.names[int(got)] == (str(expected[0]), str(expected[1]), int(expected[2]))


def test_side_lanes_and_successors(network):
    table = roads.from_network(network)
    for lane, name in enumerate(table.names):
        sides = {table.names[i] for i in (int(table.left[lane]), int(table.right[lane])) if i >= 0}
        expected = {(str(a), str(b), int(c)) for a, b, c in network.side_lanes(name)}
        assert sides == expected
        successors = {table.names[i] for i in table.successors[lane].tolist() if i >= 0}
        assert successors == {
            (str(name[1]), str(to), i)
            for to, lanes in network.graph.get(name[1], {}).items()
            for i in range(len(lanes))
        }


def test_an_unknown_lane_kind_is_refused_by_name():
    class Odd:
        length, width, speed_limit, forbidden = 1.0, 4.0, 20.0, False

    class Network:
        graph = {"a": {"b": [Odd()]}}

    with pytest.raises(ValueError, match="Odd"):
        roads.from_network(Network())
