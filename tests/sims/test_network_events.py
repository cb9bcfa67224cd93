"""A scenario file's scripted event on the road-network engine: placed, and driven for 10 s, as
highway-env places and drives it (sims.events), and refused by name where the engine cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sims.batched import roads
from sims.batched.network import from_highway_env
from sims.batched.network_events import Script, check_events, place
from sims.batched.network_fidelity import make_environment, reset
from sims.batched.network_task import BatchedRoads
from sims.events import (
    CutIn,
    LeadBrake,
    StalledVehicle,
    braking_to_a_stop,
    cleared_for_event,
)
from sims.strict import ConfigError

EVENTS = [StalledVehicle(gap_m=150.0), LeadBrake(trigger_s=2.0, gap_m=20.0, decel_mps2=6.0)]
# One simulation step per policy step, so that the script is read before each, as sims.env does.
CONFIG = {"vehicles_count": 20, "policy_frequency": 15}


def _positions(state) -> np.ndarray:
    present = state.present[0]
    return torch.stack([state.x_m[0][present], state.y_m[0][present]], 1).numpy()


@pytest.mark.contract
@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_event_scene_and_ten_seconds_match_highway_env(event):
    for seed in (0, 1):
        env = make_environment("highway-v0", "continuous", CONFIG)
        reset(env, seed)
        road = roads.from_network(env.unwrapped.road.network)
        task = BatchedRoads(
            "highway-v0", 1, dtype=torch.float64, env_config=CONFIG, events=(event,)
        )
        state = from_highway_env([env], road)
        active = event.start(env.unwrapped.road, env.unwrapped.vehicle)
        task.state = place(state, task.road, Script.of(event))
        vehicles = env.unwrapped.road.vehicles
        np.testing.assert_allclose(
            _positions(task.state), [vehicle.position for vehicle in vehicles], atol=1e-9
        )
        rng = np.random.default_rng(seed)
        dt_s = task.config.dt_s
        for step in range(150):
            active.update(step * dt_s)
            action = rng.uniform(-1, 1, 2)
            task.simulate(torch.tensor(action[None]))
            env.step(action)
            np.testing.assert_allclose(
                _positions(task.state), [vehicle.position for vehicle in vehicles], atol=1e-6
            )
            assert task.state.crashed[0][task.state.present[0]].tolist() == [
                bool(vehicle.crashed) for vehicle in vehicles
            ]
            if vehicles[0].crashed:
                break
        scripted = vehicles[-1]
        assert float(task.state.speed_mps[0, -1]) == pytest.approx(scripted.speed, abs=1e-6)


@pytest.mark.contract
def test_a_lead_brake_stops_and_stays_stopped():
    task = BatchedRoads(
        "highway-v0",
        4,
        ego_control="follow",
        dtype=torch.float64,
        env_config={"vehicles_count": 20},
        events=(LeadBrake(trigger_s=2.0, gap_m=20.0, decel_mps2=6.0),),
    )
    torch.testing.assert_close(task.state.speed_mps[:, -1], task.state.speed_mps[:, 0])
    # The ego keeps its lane at 10 m/s: it stays clear of the braking car.
    keep = torch.stack(
        [task.road.lane_id[task.state.lane[:, 0]].double(), torch.full((4,), 10.0)], 1
    )
    task.simulate(keep)
    task.simulate(keep)
    before = task.state.speed_mps[:, -1].clone()
    task.simulate(keep)
    # Braking from 2 s on at 6 m/s2, and never below a standstill.
    torch.testing.assert_close(task.state.speed_mps[:, -1], (before - 6.0).clamp(min=0))
    for _ in range(4):
        task.simulate(keep)
    assert torch.all(task.state.speed_mps[:, -1] == 0.0)
    assert torch.all(task.state.present[:, -1])


@pytest.mark.unit
def test_events_the_engine_cannot_script_are_refused_by_name():
    with pytest.raises(ConfigError, match="cut_in"):
        check_events([CutIn()], "highway-v0", source="scenario 'x'")
    with pytest.raises(ConfigError, match="merge-v0"):
        check_events([StalledVehicle()], "merge-v0", source="scenario 'x'")
    with pytest.raises(ConfigError, match="one event"):
        check_events([StalledVehicle(), LeadBrake()], "highway-v0", source="scenario 'x'")
    assert check_events([], "merge-v0", source="scenario 'x'") is None


@pytest.mark.contract
def test_restarted_scenes_get_their_event_again():
    task = BatchedRoads(
        "highway-v0",
        3,
        dtype=torch.float64,
        env_config={"vehicles_count": 10},
        duration_s=2.0,
        events=(StalledVehicle(gap_m=50.0),),
    )
    rows = task.state.x_m.shape[1]
    for _ in range(2):
        result = task.step(torch.zeros(3, 2))
    assert bool(result.truncated.all())  # every scene ended and was drawn again
    state = task.state
    assert state.x_m.shape[1] == rows and bool(state.present[:, -1].all())
    # A new stalled car 50 m beyond the ego's front bumper, standing, in the ego's lane.
    torch.testing.assert_close(
        state.x_m[:, -1] - state.x_m[:, 0], torch.full((3,), 55.0, dtype=torch.float64)
    )
    assert bool((state.speed_mps[:, -1] == 0).all())
    assert bool((state.lane[:, -1] == state.lane[:, 0]).all())


def test_the_stop_bound_and_the_cleared_stretch_are_one_function_for_both_simulators():
    speeds = [0.0, 0.3, 6.0, 25.0]
    batch = braking_to_a_stop(torch.full((4,), -6.0), torch.tensor(speeds), 1 / 15)
    assert batch.tolist() == pytest.approx([braking_to_a_stop(-6.0, v, 1 / 15) for v in speeds])
    assert braking_to_a_stop(-6.0, 0.3, 1 / 15) == pytest.approx(-4.5)  # 0.3 m/s gone in 1/15 s
    along = [-6.0, -4.0, 10.0, 89.0, 91.0, 10.0]
    across = [0.0, 0.0, 3.9, 0.0, 0.0, 4.1]
    flags = [
        cleared_for_event(s, d, 4.0, ego_station_m=0.0, until_m=90.0)
        for s, d in zip(along, across, strict=True)
    ]
    assert [bool(f) for f in flags] == [False, True, True, True, False, False]
    batch = cleared_for_event(
        torch.tensor(along), torch.tensor(across), 4.0, ego_station_m=0.0, until_m=90.0
    )
    assert batch.tolist() == [bool(f) for f in flags]
