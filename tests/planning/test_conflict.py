"""The junction and curve rules in torch (planning.conflict) against the per-time-step test they
replace, and the batch against its rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from planning.conflict import (
    Movers,
    first_conflict_gaps_m,
    interpolate,
    max_curvatures,
    yield_gaps_m,
)
from planning.rules import RulesConfig
from sims.batched.centreline import Centrelines, unwrapped

pytestmark = pytest.mark.unit

RULES = RulesConfig()


def reference_gap_m(line, ego, others, limit_mps, config=RULES):
    """The conflict test written plainly: one scene, numpy, every time of the grid, each crossing
    vehicle a segment of its length along its heading."""
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
    gaps = first_conflict_gaps_m(
        line, torch.zeros(len(scenes), dtype=torch.float64), ego, limits, others, present,
        RULES.conflict_rules,
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


def test_the_ego_waits_at_the_stop_line_before_a_conflict_beyond_it_else_before_the_zone():
    # An ego 5 m long; the conflict's bumper gap g puts the zone's first point g + 5 m from its
    # centre; the lane ends L m from its centre, so its nose is L - 2.5 m from the line. Braking at
    # most 6 m/s2 it stops within v^2 / 12 m.
    def stop_gap(gap_m, lane_end_m, speed_mps):
        rows = (torch.tensor([v], dtype=torch.float64) for v in (gap_m, lane_end_m, 5.0, speed_mps))
        return yield_gaps_m(*rows, 6.0).item()

    # the zone starts 15 m ahead, past the line 8 m ahead: wait with the nose at the line, 5.5 m on
    assert stop_gap(10.0, 8.0, 5.0) == pytest.approx(5.5)
    # the zone starts before the line: stop before the zone, as towards a standing car
    assert stop_gap(2.0, 8.0, 5.0) == pytest.approx(2.0)
    # the nose is past the line (in the junction): the zone
    assert stop_gap(10.0, 2.0, 5.0) == pytest.approx(10.0)
    # too fast to stop at the line (7 m/s needs 4.1 m, 1.5 m left) but not before the zone
    assert stop_gap(10.0, 4.0, 7.0) == pytest.approx(10.0)
    # too fast for either (15 m/s needs 18.75 m; the zone is 12 m on): committed, it goes
    assert math.isinf(stop_gap(7.0, 30.0, 15.0))
    # no conflict: it goes, whatever the line
    assert math.isinf(stop_gap(math.inf, 8.0, 1.0))
