"""FastRoad must give highway-env's results bit for bit, on straight roads and on others."""

from __future__ import annotations

import numpy as np
import pytest
from highway_env.road.road import Road

from sims.env import SimEnv
from sims.fastroad import FastRoad
from sims.scenario import load_scenario


def _trajectory(scenario_id: str, *, fast: bool, steps: int) -> np.ndarray:
    sim = SimEnv(load_scenario(scenario_id))
    sim.reset(seed=3)
    road = sim.highway_env.road
    assert type(road) is FastRoad
    if not fast:
        road.__class__ = Road
    rows = []
    rng = np.random.default_rng(0)
    for _ in range(steps):
        step = sim.step(acceleration_mps2=rng.uniform(-3, 3), steering_rad=rng.uniform(-0.02, 0.02))
        rows.append(
            [(*v.position, v.speed, v.heading, float(v.crashed)) for v in road.vehicles[:40]]
        )
        if step.terminated:
            break
    sim.close()
    return np.array(rows)


@pytest.mark.parametrize("scenario_id", ["highway-dense", "merge"])
def test_fast_road_reproduces_highway_env_bit_for_bit(scenario_id: str) -> None:
    fast = _trajectory(scenario_id, fast=True, steps=90)
    plain = _trajectory(scenario_id, fast=False, steps=90)
    assert fast.shape == plain.shape
    np.testing.assert_array_equal(fast, plain)
