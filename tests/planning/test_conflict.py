"""The junction and curve rules in torch (planning.conflict) against the per-time-step test they
replace, and the batch against its rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from planning.conflict import (
    Movers,
    _turning_onto,
    first_conflict_gaps_m,
    interpolate,
    max_curvatures,
)
from planning.rules import RulesConfig
from sims.batched.centreline import Centrelines, unwrapped

pytestmark = pytest.mark.unit

RULES = RulesConfig()


def reference_gap_m(line, ego, others, limit_mps, config=RULES):
    """The conflict test written plainly: one scene, numpy, every time of the grid, each crossing
    vehicle a segment of its length along its heading, going straight on."""
    x_line, y_line, station = line
    ego_x, ego_y, ego_speed, ego_heading, ego_length = ego
    crossing = [v for v in others if abs(math.remainder(v[3] - ego_heading, 2 * math.pi)) >= 0.5]
    if not crossing:
        return math.inf
    times = np.arange(0.0, config.conflict_horizon_s + 1e-9, 0.1)
    top = max(limit_mps, ego_speed)
    speeds = np.minimum(ego_speed + config.go_acceleration_mps2 * times, top)
    covered = np.concatenate([[0.0], np.cumsum((speeds[1:] + speeds[:-1]) / 2 * 0.1)])
    ahead = np.arange(0.0, covered[-1] + 0.5, 0.5)
    path_x = np.interp(ahead, station, x_line)
    path_y = np.interp(ahead, station, y_line)
    ego_time = np.interp(ahead, covered, times)
    tail = int(round(ego_length / 0.5))
    nearest = math.inf
    tail_of = np.minimum(np.arange(len(ahead)) + tail, len(ahead) - 1)
    for x, y, speed, heading, length in crossing:
        # the distance from each path point to the vehicle's axis (a segment) at each time
        their_x = x + speed * math.cos(heading) * times
        their_y = y + speed * math.sin(heading) * times
        dx, dy = path_x - their_x[:, None], path_y - their_y[:, None]
        along = dx * math.cos(heading) + dy * math.sin(heading)
        nearest_along = np.clip(along, -length / 2, length / 2)
        off_x = dx - nearest_along * math.cos(heading)
        off_y = dy - nearest_along * math.sin(heading)
        within = np.hypot(off_x, off_y) < 3.5  # (times, points)
        hit = np.flatnonzero(within.any(axis=0))
        if len(hit) == 0 or hit[0] == 0:
            continue
        for k in hit:  # they meet at a point if their times there come within the buffer
            their_times = times[within[:, k]]
            ego_in, ego_out = ego_time[k], ego_time[tail_of[k]]
            if ego_in - 0.5 < their_times[-1] and their_times[0] < ego_out + 0.5:
                nearest = min(nearest, float(ahead[hit[0]]) - ego_length)
                break
    return nearest


def random_scene(rng):
    """A curved ego lane from the ego (station 0) and a few vehicles around, some crossing."""
    station = np.arange(-20.0, 200.0, 2.0)
    curvature = rng.uniform(-0.03, 0.03)
    heading = curvature * np.clip(station, 0, None)
    x = np.concatenate([[0.0], np.cumsum(2.0 * np.cos(heading[:-1]))]) - 20.0
    y = np.concatenate([[0.0], np.cumsum(2.0 * np.sin(heading[:-1]))])
    ego = (0.0, 0.0, rng.uniform(0, 20), 0.0, 5.0)
    others = [
        (
            rng.uniform(-10, 80),
            rng.uniform(-60, 60),
            rng.uniform(0, 15) * (rng.uniform() > 0.2),  # some standing
            rng.uniform(-math.pi, math.pi),
            rng.choice([0.0, 5.0, 12.0]),  # a point, a car, a truck
        )
        for _ in range(int(rng.integers(1, 7)))
    ]
    return (x, y, station, heading), ego, others, rng.uniform(10, 30)


def batch_of(scenes):
    count = max(len(others) for _, _, others, _ in scenes)

    def padded(others, k):
        return [v[k] for v in others] + [0.0] * (count - len(others))

    def tensor(values):
        return torch.tensor(np.array(values), dtype=torch.float64)

    line = Centrelines(*(tensor([scene[0][k] for scene in scenes]) for k in (0, 1, 3, 2)))
    ego = Movers(*(tensor([scene[1][k] for scene in scenes]) for k in range(5)))
    others = Movers(*(tensor([padded(scene[2], k) for scene in scenes]) for k in range(5)))
    present = torch.tensor([[i < len(s[2]) for i in range(count)] for s in scenes])
    limits = tensor([scene[3] for scene in scenes])
    return line, ego, limits, others, present


def test_the_conflict_gaps_equal_the_per_time_step_test_on_random_scenes():
    rng = np.random.default_rng(3)
    scenes = [random_scene(rng) for _ in range(300)]
    line, ego, limits, others, present = batch_of(scenes)
    straight_on = RulesConfig(max_turn_rad=0.0).conflict_rules  # the reference does not turn
    gaps = first_conflict_gaps_m(
        line, torch.zeros(len(scenes), dtype=torch.float64), ego, limits, others, present,
        straight_on,
    )  # fmt: skip
    expected = [reference_gap_m(s[0][:3], s[1], s[2], s[3]) for s in scenes]
    assert sum(math.isfinite(g) for g in expected) > 30  # the scenes do conflict
    np.testing.assert_allclose(gaps.numpy(), expected, atol=1e-9)


def test_interpolate_is_numpy_interp_row_by_row():
    rng = np.random.default_rng(0)
    xp = np.sort(rng.uniform(0, 10, (3, 8)), axis=1)
    fp = rng.normal(size=(3, 8))
    x = rng.uniform(-2, 12, (3, 20))
    got = interpolate(torch.from_numpy(x), torch.from_numpy(xp), torch.from_numpy(fp)).numpy()
    expected = np.stack([np.interp(x[k], xp[k], fp[k]) for k in range(3)])
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_curvature_of_a_circle_is_one_over_its_radius_and_zero_on_a_line():
    station = torch.arange(-20.0, 100.0, 2.0, dtype=torch.float64)
    heading = torch.stack([station / 25.0, 0 * station])
    line = Centrelines(0 * heading, 0 * heading, heading, station.expand(2, -1))
    got = max_curvatures(line.heading_rad, line.station_m, 0.0, 50.0)
    assert got.tolist() == pytest.approx([1 / 25.0, 0.0])
    # nothing sampled in the window: 0
    assert max_curvatures(line.heading_rad, line.station_m, 500.0, 600.0).tolist() == [0.0, 0.0]
    # numpy arrays, as one perceived lane passes them: the same
    assert max_curvatures(
        heading.numpy(), line.station_m.numpy(), 0.0, 50.0
    ).tolist() == pytest.approx([1 / 25.0, 0.0])


def test_unwrapped_is_numpy_unwrap():
    angles = np.array([[3.0, -3.1, 3.05, -3.0, 0.1, 6.0]])
    np.testing.assert_allclose(unwrapped(torch.from_numpy(angles)).numpy(), np.unwrap(angles))


@pytest.mark.parametrize("turn_rad", [math.pi / 2, -math.pi / 2, 0.6, -1.9])
@pytest.mark.parametrize("radius_m", [5.0, 13.0, 29.0])
def test_a_car_turning_onto_the_path_is_due_where_a_straight_then_an_arc_leaves_it(
    turn_rad, radius_m
):
    # A car at the origin heading along +x at 8 m/s, 5 m long, drives 7 m straight on and then
    # turns by turn_rad on radius_m (left for turn_rad > 0): it ends at a point of the path, with
    # the path's heading, having covered 7 + radius_m * |turn_rad|. Built forwards here, read
    # backwards by the conflict test.
    side = math.copysign(1.0, turn_rad)
    end_x = 7.0 + radius_m * math.sin(abs(turn_rad))
    end_y = side * radius_m * (1 - math.cos(turn_rad))
    car = Movers(*(torch.tensor([[value]], dtype=torch.float64) for value in (0, 0, 8, 0, 5)))
    along, across = torch.tensor([[[end_x]]]), torch.tensor([[[end_y]]])
    first, last = _turning_onto(
        along, across, torch.tensor([[[turn_rad]]]), car, RULES.conflict_rules
    )
    covered = 7.0 + radius_m * abs(turn_rad)
    reach = 2.5 + RULES.conflict_distance_m
    assert first.item() == pytest.approx((covered - reach) / 8)
    assert last.item() == pytest.approx((covered + reach) / 8)
    # the same point with the path heading the other way, or past the car's reach, cannot be joined
    assert (
        _turning_onto(along, across, torch.tensor([[[-turn_rad]]]), car, RULES.conflict_rules)[0]
        .isinf()
        .all()
    )
    too_sharp = RulesConfig(min_turn_radius_m=radius_m + 1).conflict_rules
    assert (
        _turning_onto(along, across, torch.tensor([[[turn_rad]]]), car, too_sharp)[0].isinf().all()
    )
