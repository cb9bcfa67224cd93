"""The road engine's decisions asked two ways give one answer: the search by station against the
dense search, and the aborts decided at once against highway-env's loop over the vehicles."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from sims.batched import network_decide as decide
from sims.batched import network_stations, network_step, physics
from sims.batched.network import NetworkState
from sims.batched.network_task import BatchedRoads

pytestmark = pytest.mark.unit


def _scenes(env_id: str, batch: int = 8, steps: int = 4) -> BatchedRoads:
    engine = BatchedRoads(env_id, batch, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    for _ in range(steps):
        engine.step(torch.rand(batch, 2, generator=generator, dtype=torch.float64) * 2 - 1)
    return engine


def test_stations_apply_where_every_lane_runs_straight_one_way():
    assert network_stations.applies(_scenes("highway-v0", steps=0).road, 51)
    assert not network_stations.applies(_scenes("highway-v0", steps=0).road, 64)  # too many rows
    for env_id in ("merge-v0", "exit-v0", "roundabout-v0", "intersection-v0"):
        assert not network_stations.applies(_scenes(env_id, steps=0).road, 8)


def test_the_search_by_station_finds_the_dense_searchs_neighbours_on_every_lane():
    engine = _scenes("highway-v0")
    state, road = engine.state, engine.road
    stations = network_stations.Stations.of(state, road)
    every = decide.every_row(state)
    for lane in range(road.lanes):
        asked = torch.full_like(every.row, lane)
        dense = decide.Lanes.of(state, road, every.env, asked).neighbours(every.row)
        by_station = stations.neighbours(every.env, every.row, asked)
        assert torch.equal(dense[0], by_station[0]) and torch.equal(dense[1], by_station[1])
    own = decide.Lanes.of(state, road, every.env, state.lane.reshape(-1))
    generator = torch.Generator().manual_seed(0)
    column = torch.randint(0, state.x_m.shape[1], every.row.shape, generator=generator)
    assert torch.equal(own.along_at(every.flat, column), stations.along_at(every.flat, column))
    assert torch.equal(own.along_rows(every.flat), stations.along_rows(every.flat))


def _abort_in_loop_order(
    state: NetworkState,
    own: decide.Lanes,
    changing: Tensor,
    old_target: Tensor,
    constants: physics.IdmConstants,
) -> None:
    """highway-env's order, row by row: each vehicle sees the new targets of those before it."""
    for env, row in torch.nonzero(changing).tolist():
        count = state.x_m.shape[1]
        star = physics.desired_gap_m(
            state.speed_mps[env, row],
            torch.cos(state.heading_rad[env, row]),
            torch.sin(state.heading_rad[env, row]),
            state.speed_mps[env],
            torch.cos(state.heading_rad[env]),
            torch.sin(state.heading_rad[env]),
            constants=constants,
        )
        along = own.along_rows(torch.tensor([env * count + row]))[0]
        gap = along - along[row]
        wanted = state.target_lane[env, row]
        rows = torch.arange(count)
        seen = torch.where(rows < row, state.target_lane[env], old_target[env])
        other = (rows != row) & state.present[env] & state.controlled[env]
        other = other & (gap > 0) & (gap < star) & (state.lane[env] != wanted)
        if bool((other & (seen == wanted)).any()):
            state.target_lane[env, row] = state.lane[env, row]


@pytest.mark.parametrize("seed", range(10))
def test_aborts_decided_at_once_are_highway_envs_loop(seed):
    engine = _scenes("highway-v0")
    state, road = engine.state, engine.road
    generator = torch.Generator().manual_seed(seed)
    # Rows in a random order along the road, so that a row's predecessors in the loop are ahead
    # of it as often as behind, and chains of aborts occur.
    order = torch.cat(
        [torch.zeros(1, dtype=torch.long), 1 + torch.randperm(50, generator=generator)]
    )
    for name in ("x_m", "y_m", "heading_rad", "speed_mps", "lane"):
        setattr(state, name, getattr(state, name)[:, order])
    # Many vehicles start a change into a side lane, so that chains of aborts occur.
    left = torch.rand(state.lane.shape, generator=generator) < 0.5
    side = torch.where(left, road.left[state.lane], road.right[state.lane])
    starts = (torch.rand(state.lane.shape, generator=generator) < 0.6) & (side >= 0)
    state.target_lane = torch.where(starts, side, state.lane)
    # Half the changes began at an earlier step: the loop's later rows show them already.
    earlier = torch.rand(state.lane.shape, generator=generator) < 0.5
    old_target = torch.where(earlier, state.target_lane, state.lane)
    changing = starts & state.present & state.controlled
    own, _ = decide.own_lane(state, road, physics.HIGHWAY_ENV_IDM)
    wanted = state.target_lane.clone()
    decide.abort(state, own, changing, old_target, physics.HIGHWAY_ENV_IDM)
    at_once = state.target_lane.clone()
    state.target_lane = wanted.clone()
    _abort_in_loop_order(state, own, changing, old_target, physics.HIGHWAY_ENV_IDM)
    assert bool((at_once != wanted).any()), "no abort: the case tests nothing"
    assert torch.equal(at_once, state.target_lane)


def _pair_set(env: Tensor, first: Tensor, second: Tensor) -> set[tuple[int, int, int]]:
    return set(zip(env.tolist(), first.tolist(), second.tolist(), strict=True))


def test_the_collision_pre_test_by_station_finds_every_pair_of_the_dense_one():
    engine = _scenes("highway-v0")
    state, road = engine.state, engine.road
    # A pile-up in scene 0: twelve rows within a few metres, more than the window holds.
    generator = torch.Generator().manual_seed(0)
    rows = slice(1, 13)
    state.x_m[0, rows] = state.x_m[0, 0] + 6 * torch.rand(12, generator=generator)
    state.y_m[0, rows] = 4.0 * torch.randint(4, (12,), generator=generator)
    # In scene 1, four rows a metre apart across lanes: close pairs two and three slots apart.
    state.x_m[1, 1:5] = state.x_m[1, 0] + 50 + torch.arange(4.0, dtype=torch.float64)
    state.y_m[1, 1:5] = torch.tensor([0.0, 8.0, 4.0, 0.0], dtype=torch.float64)
    state.present[2, 7] = False  # a row that left the road
    run = network_step.kernels(False)
    _, _, short = network_stations.window_pairs(state, road, 1 / 15)
    assert short[0] == 1 and short[1:].sum() == 0  # the pile-up falls back to every pair
    by_station = network_step._near_pairs(state, road, 1 / 15, run)
    dense = torch.nonzero(network_step.near_pairs(state, 1 / 15), as_tuple=True)
    assert len(_pair_set(*dense)) > 12  # the pile-up's pairs
    assert any(env != 0 for env, _, _ in _pair_set(*dense))  # and some the window finds
    assert _pair_set(*by_station) == _pair_set(*dense)
