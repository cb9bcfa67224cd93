"""The planning environment on the batched engine against the one in highway-env: same observation
from the same scene, same decisions' meaning, and the VecEnv that ``drive train --sim batched`` uses."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from perception.registry import make_perceiver
from planning.rl.batched import BatchedPlanning, PlanningVecEnv, evaluate_batched
from planning.rl.batched_encoding import encode_batch
from planning.rl.batched_safety import change_is_safe
from planning.rl.encoding import encode
from planning.rl.executor import (
    ACTIONS,
    INITIAL_CRUISE_MPS,
    SPEED_STEP_MPS,
    ExecutorConfig,
    SafetyMargins,
)
from sims.batched import decide, engine
from sims.batched.neighbours import LANE_WIDTH_M, station_order
from sims.batched.state import BatchConfig, from_highway_env, spawn
from sims.env import SimEnv
from sims.scenario import load_scenario
from tests.helpers import CUT_INS

LEFT_FASTER = next(i for i, a in enumerate(ACTIONS) if a.label == "left/faster")
RIGHT_SAME = next(i for i, a in enumerate(ACTIONS) if a.label == "right/same")
KEEP_SAME = next(i for i, a in enumerate(ACTIONS) if a.label == "keep/same")


def test_observation_matches_the_encoding_of_highway_env_ground_truth():
    sim = SimEnv(load_scenario("highway"))
    perceiver = make_perceiver("groundtruth")
    config = BatchConfig(ego_control="follow")
    try:
        for seed in range(4):
            frame = sim.reset(seed=seed)
            for _ in range(seed * 5):  # move away from the initial grid
                frame = sim.step(acceleration_mps2=0.5, steering_rad=0.01 * (seed - 1)).frame
            expected = encode(perceiver.perceive(frame), cruise_mps=27.5, changing_direction=-1)
            state = from_highway_env(
                [sim.highway_env], config, device=torch.device("cpu"), dtype=torch.float64
            )
            got = encode_batch(state, config, torch.tensor([27.5]), torch.tensor([-1])).numpy()[0]
            np.testing.assert_allclose(got, expected, atol=1e-5)
    finally:
        sim.close()


def test_decisions_change_lane_and_cruise_as_the_executor_does():
    task = BatchedPlanning(8, seed=3)
    task.reset(seed=3)
    lane = task.state.lane[:, 0].clone()
    first = task.step(torch.full((8,), LEFT_FASTER))
    can_go_left = lane > 0
    assert torch.all(task.cruise_mps == INITIAL_CRUISE_MPS + SPEED_STEP_MPS)
    moved_or_ended = (task.state.target_lane[:, 0] == lane - 1) | task.state.crashed[:, 0]
    assert torch.all(moved_or_ended[can_go_left])
    assert torch.all(task.state.target_lane[~can_go_left, 0] == 0)
    # A second request while a change is under way is ignored, as PolicyExecutor.decide does.
    changing = task.changing_direction() != 0
    target = task.state.target_lane[:, 0].clone()
    second = task.step(torch.full((8,), RIGHT_SAME))
    assert torch.all(task.state.target_lane[changing, 0] == target[changing])
    # Each step's speed is the mean over its decision: two uncrashed decisions make the episode's.
    alive = ~(first.terminated | second.terminated)
    assert bool(alive.any())
    torch.testing.assert_close(
        second.episode_mean_speed_mps[alive], ((first.speed_mps + second.speed_mps) / 2)[alive]
    )


def test_vec_env_reports_finished_episodes_with_their_summary():
    env = PlanningVecEnv(4, seed=0)
    env.task.config = BatchConfig(ego_control="follow", duration_s=3)
    observation = env.reset()
    assert observation.shape == (4, 11, 7)
    for _ in range(3):
        env.step_async(np.full(4, KEEP_SAME))
        observation, reward, done, infos = env.step_wait()
    assert done.all()
    for info in infos:
        assert info["episode_mean_speed_mps"] > 15
        assert "terminal_observation" in info and "TimeLimit.truncated" in info
    assert np.all(reward <= 1.0)


def test_safety_layer_vetoes_changes_into_occupied_gaps_and_counts_them():
    # Random decisions crash in about one episode in ten without the layer, in none with it.
    rng = np.random.default_rng(0)
    figures = {
        layer: evaluate_batched(
            lambda observation: rng.integers(len(ACTIONS), size=len(observation)),
            episodes=96,
            seed=5,
            safety_layer=layer,
        )
        for layer in (False, True)
    }
    assert figures[False]["collision_rate"] >= 0.03 and figures[False]["overrides"] == 0
    assert figures[True]["collision_rate"] == 0 and figures[True]["overrides"] > 0.5


def test_safety_check_reads_the_gaps_of_the_target_lane():
    task = BatchedPlanning(1, seed=0)
    state = task.state
    count = state.x_m.shape[1]
    state.y_m[0, :], state.lane[0, :] = 0.0, 0  # everyone in lane 0, far ahead, at the ego's speed
    state.x_m[0, 1:] = state.x_m[0, 0] + 1000 + 50.0 * torch.arange(count - 1)
    state.speed_mps[0, :] = 25.0
    lane_one = torch.tensor([1])

    def safe(x_m: float, *, fraction: float = 1.0, **margins: float) -> bool:
        state.y_m[0, 1], state.x_m[0, 1] = 4.0, state.x_m[0, 0] + x_m  # vehicle 1 into lane 1
        return bool(
            change_is_safe(
                state, task.config, lane_one, fraction=fraction, margins=SafetyMargins(**margins)
            ).item()
        )

    assert safe(20.0)  # a 15 m bumper gap ahead (>= 10 m)
    assert not safe(12.0)  # 7 m
    assert safe(12.0, fraction=0.5)  # enough not to abort a change under way
    # Behind at the same speed, IDM would brake the follower by 3 (s*/gap)^2 with s* = 42.5 m: more
    # than 2 m/s2 unless the bumper gap is over 52 m.
    assert not safe(-40.0)
    assert safe(-60.0)
    # 40 m centre to centre is a 35 m bumper gap: the follower would brake by 4.4 m/s2.
    assert safe(-40.0, max_imposed_braking_mps2=5.0)
    assert not safe(-40.0, max_imposed_braking_mps2=4.0)
    # Thinner margins for experiments: 7 m ahead passes a 5 m minimum; behind, with the braking
    # bound lifted, 10 m centre to centre (a 5 m bumper gap) passes a 4 m minimum and not a 6 m one.
    assert safe(12.0, min_front_gap_m=5.0)
    assert safe(-10.0, min_rear_gap_m=4.0, max_imposed_braking_mps2=math.inf)
    assert not safe(-10.0, min_rear_gap_m=6.0, max_imposed_braking_mps2=math.inf)


@pytest.mark.parametrize(
    "margins",
    [
        {"min_front_gap_m": -1.0},
        {"min_rear_gap_m": math.nan},
        {"max_imposed_braking_mps2": 0.0},
        {"far_lane_check": "false"},
        {"far_lane_clearance_m": -5.0},
        {"wait_for_gap": 1},
        {"cut_in_check": None},
    ],
)
def test_safety_margins_refuse_a_bad_value_by_name(margins):
    with pytest.raises(ValueError, match=next(iter(margins))):
        SafetyMargins(**margins)


@pytest.mark.parametrize(
    ("x_m", "vetoed"), [(10.0, True), (-3.0, True), (40.0, False), (-12.0, False)]
)
def test_safety_check_vetoes_a_start_while_the_lane_beyond_has_a_vehicle_beside_the_gap(
    x_m, vetoed
):
    # As PolicyExecutor's test: the ego in lane 1, changing into an empty lane 2, one vehicle in
    # lane 3 at x_m (centre to centre); the others far ahead in lane 0.
    task = BatchedPlanning(1, seed=0)
    state = task.state
    count = state.x_m.shape[1]
    state.y_m[0, :], state.lane[0, :] = 0.0, 0
    state.x_m[0, 1:] = state.x_m[0, 0] + 1000 + 50.0 * torch.arange(count - 1)
    state.speed_mps[0, :] = 25.0
    state.y_m[0, 0], state.lane[0, 0] = LANE_WIDTH_M, 1
    state.y_m[0, 1], state.lane[0, 1] = 3 * LANE_WIDTH_M, 3
    state.x_m[0, 1] = state.x_m[0, 0] + x_m
    lane_two, checked = torch.tensor([2]), SafetyMargins()
    assert (
        bool(change_is_safe(state, task.config, lane_two, fraction=1.0, margins=checked)) != vetoed
    )
    # a change under way is not aborted for it, nor is a start where the check is turned off
    assert bool(change_is_safe(state, task.config, lane_two, fraction=0.5, margins=checked))
    unchecked = SafetyMargins(far_lane_check=False)
    assert bool(change_is_safe(state, task.config, lane_two, fraction=1.0, margins=unchecked))
    # a clearance shorter than the vehicle's bumper gap lets it be
    if x_m == 40.0:
        state.x_m[0, 1] = state.x_m[0, 0] + 20.0  # a 15 m bumper gap
        assert not bool(change_is_safe(state, task.config, lane_two, fraction=1.0, margins=checked))
        near = SafetyMargins(far_lane_clearance_m=10.0)
        assert bool(change_is_safe(state, task.config, lane_two, fraction=1.0, margins=near))


def cut_in_task(side: int, x_m: float, speed_mps: float, heading_rad: float) -> BatchedPlanning:
    """PolicyExecutor's cut-in scenes on the engine: the ego at 25 m/s in lane 1 (``side`` 1) or 2
    (-1), changing into the empty lane beside it, one vehicle in the lane beyond; the others far
    ahead in lane 0 or 3, away from it."""
    task = BatchedPlanning(
        1,
        seed=0,
        safety_layer=True,
        executor_config=ExecutorConfig(
            margins=SafetyMargins(0.0, 0.0, math.inf, far_lane_clearance_m=10.0, cut_in_check=True)
        ),
    )
    state = task.state
    count = state.x_m.shape[1]
    ego_lane, far_lane = (1, 3) if side > 0 else (2, 0)
    state.heading_rad[0, :] = 0.0
    state.y_m[0, :], state.lane[0, :] = (3 - far_lane) * LANE_WIDTH_M, 3 - far_lane
    state.x_m[0, 1:] = state.x_m[0, 0] + 1000 + 50.0 * torch.arange(count - 1)
    state.speed_mps[0, :] = 25.0
    state.y_m[0, 0], state.lane[0, 0] = ego_lane * LANE_WIDTH_M, ego_lane
    state.y_m[0, 1], state.lane[0, 1] = far_lane * LANE_WIDTH_M, far_lane
    state.x_m[0, 1] = state.x_m[0, 0] + x_m
    state.speed_mps[0, 1], state.heading_rad[0, 1] = speed_mps, side * heading_rad
    state.order = station_order(state.x_m)
    return task


@pytest.mark.parametrize("side", [1, -1])
@pytest.mark.parametrize(("x_m", "speed_mps", "heading_rad", "vetoed"), CUT_INS)
def test_cut_in_check_refuses_a_change_while_the_lane_beyond_moves_into_it_ahead(
    x_m, speed_mps, heading_rad, vetoed, side
):
    # As PolicyExecutor's tests: to start a change or to keep one going.
    task = cut_in_task(side, x_m, speed_mps, heading_rad)
    target = torch.tensor([(1 if side > 0 else 2) + side])
    margins = task.executor_config.margins
    for fraction in (1.0, 0.5):
        safe = change_is_safe(task.state, task.config, target, fraction=fraction, margins=margins)
        assert bool(safe) != vetoed
    unchecked = replace(margins, cut_in_check=False)
    assert bool(change_is_safe(task.state, task.config, target, fraction=0.5, margins=unchecked))


@pytest.mark.parametrize("side", [1, -1])
def test_a_cut_in_aborts_a_change_under_way_on_the_engine(side):
    task = cut_in_task(side, 30.0, 17.0, -0.15)  # CUT_INS' first case: moving in, 25 m ahead
    lane = int(task.state.lane[0, 0])
    task.state.target_lane[0, 0], task.direction[0] = lane + side, side
    task._abort_unsafe_changes()
    assert int(task.state.target_lane[0, 0]) == lane and int(task.direction[0]) == 0
    assert int(task.overrides[0]) == 1


@pytest.mark.parametrize("wait", [False, True])
def test_a_vetoed_change_waits_for_its_gap_until_the_next_decision(wait):
    # The ego in lane 0 at 25 m/s asks for lane 1, where a car 2 m ahead (centre to centre) drives
    # at 35 m/s: vetoed at the decision; within the second the bumper gap passes the 5 m asked.
    margins = SafetyMargins(5.0, 4.0, math.inf, wait_for_gap=wait)
    task = BatchedPlanning(
        1, seed=0, safety_layer=True, executor_config=ExecutorConfig(margins=margins)
    )
    state = task.state
    count = state.x_m.shape[1]
    state.y_m[0, :], state.lane[0, :], state.target_lane[0, :] = 0.0, 0, 0
    state.heading_rad[0, :] = 0.0
    state.x_m[0, 1:] = state.x_m[0, 0] + 1000 + 50.0 * torch.arange(count - 1)
    state.speed_mps[0, :] = 25.0
    state.x_m[0, 1], state.y_m[0, 1] = state.x_m[0, 0] + 2.0, LANE_WIDTH_M
    state.lane[0, 1], state.target_lane[0, 1] = 1, 1
    state.speed_mps[0, 1], state.target_speed_mps[0, 1] = 35.0, 35.0
    task.step(torch.tensor([RIGHT_SAME]))
    assert int(task.overrides[0]) == 1
    assert int(task.state.target_lane[0, 0]) == (1 if wait else 0)


def test_the_following_ego_keeps_its_own_time_gap_and_model_and_the_traffic_keeps_highway_envs():
    # The ego at 25 m/s, 40 m (centre to centre) behind a vehicle at 20 m/s in its lane, cruising
    # at 30 m/s; the third vehicle follows the ego 30 m behind at 25 m/s.
    got = {}
    for model, time_gap_s in (("idm", 1.5), ("idm", 0.6), ("idm_plus", 0.6), ("idm_plus", 3.0)):
        config = BatchConfig(
            ego_control="follow", vehicles=2, ego_time_gap_s=time_gap_s, ego_car_following=model
        )
        generator = torch.Generator().manual_seed(0)
        cpu = torch.device("cpu")
        state = spawn(config, 1, generator=generator, device=cpu, dtype=torch.float64)
        state.x_m[:] = torch.tensor([[0.0, 40.0, -30.0]], dtype=torch.float64)
        state.y_m[:], state.heading_rad[:] = LANE_WIDTH_M, 0.0
        state.lane[:], state.target_lane[:] = 1, 1
        state.speed_mps[:] = torch.tensor([[25.0, 20.0, 25.0]], dtype=torch.float64)
        state.target_speed_mps[:] = torch.tensor([[30.0, 20.0, 25.0]], dtype=torch.float64)
        state.order = station_order(state.x_m)
        _, acceleration = engine.act(state, config)
        got[model, time_gap_s] = acceleration[0]

    def terms(speed, target, gap, closing, time_gap_s):  # highway-env's IDMVehicle, by hand
        star = 10.0 + speed * time_gap_s + speed * closing / (2 * math.sqrt(3.0 * 5.0))
        return 3.0 * (1 - (speed / target) ** 4), 3.0 * (star / gap) ** 2

    for (model, time_gap_s), acceleration in got.items():
        free, interaction = terms(25.0, 30.0, 40.0, 5.0, time_gap_s)
        # IDM+ takes the smaller of the two terms (Schakel et al. 2010) instead of their sum
        ego = free - interaction if model == "idm" else min(free, 3.0 - interaction)
        ego = max(ego, -6.0)  # clamped to ACC_MAX
        assert float(acceleration[0]) == pytest.approx(ego, rel=1e-6)
    assert float(got["idm", 0.6][0]) > float(got["idm", 1.5][0])  # the shorter gap brakes less
    assert float(got["idm_plus", 0.6][0]) > float(got["idm", 0.6][0])  # IDM+ eases off later
    assert float(got["idm_plus", 3.0][0]) < -3.0  # and brakes when closer than it wants
    for key in got:  # the follower's own gap and model are unchanged
        assert float(got[key][2]) == float(got["idm", 1.5][2])


def test_mobil_predicts_a_following_ego_with_the_asking_vehicles_idm():
    # A vehicle deciding to cut in front of the ego predicts the ego's braking as highway-env does,
    # with its own IDM (1.5 s, its exponent), not with the ego's time gap or model.
    predictions = []
    for model, time_gap_s in (("idm", 1.5), ("idm_plus", 0.6)):
        config = BatchConfig(
            ego_control="follow", vehicles=1, ego_time_gap_s=time_gap_s, ego_car_following=model
        )
        generator = torch.Generator().manual_seed(0)
        state = spawn(
            config, 1, generator=generator, device=torch.device("cpu"), dtype=torch.float64
        )
        state.x_m[:] = torch.tensor([[0.0, 20.0]], dtype=torch.float64)
        state.speed_mps[:] = torch.tensor([[28.0, 22.0]], dtype=torch.float64)
        motion = decide.Motion.of(state)
        env, ego, cutter = torch.tensor([0]), torch.tensor([0]), torch.tensor([1])
        predictions.append(
            decide._idm(motion, config, env, ego, cutter, state.delta[0, 1:], own=False)
        )
    torch.testing.assert_close(predictions[0], predictions[1])


def test_repeated_copies_step_as_their_original():
    task = BatchedPlanning(2, seed=5)
    task.reset(seed=5)
    task.step(torch.tensor([LEFT_FASTER, KEEP_SAME]))
    copies = task.repeated(3)
    original = task.step(torch.tensor([RIGHT_SAME, KEEP_SAME]))
    copied = copies.step(torch.tensor([RIGHT_SAME] * 3 + [KEEP_SAME] * 3))
    torch.testing.assert_close(copied.reward, original.reward.repeat_interleave(3))
    torch.testing.assert_close(copied.speed_mps, original.speed_mps.repeat_interleave(3))
    torch.testing.assert_close(copied.observation, original.observation.repeat_interleave(3, 0))
