"""Contract: every rule shared by the highway-env path and the batched engine gives the same answer
on both paths, on the same recorded highway-v0 scenes (tests/data/record_twin_scenes.py).

Each rule exists once (``planning.rl.encoding.encode_observed``, ``planning.safety``,
``planning.rl.reward``, ``sims.idm``, ``sims.batched.physics.steering_control_rad``); what each path
adds is how it reads the road: Frenet coordinates on perceived centrelines, or lane indices on the
engine's straight road. These tests hold the two readings to the same result.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from control.builtin import BuiltinController
from control.reference import LaneChangeReference
from perception.base import SceneState
from planning.base import Plan
from planning.rl.batched_encoding import encode_batch
from planning.rl.batched_safety import change_is_safe
from planning.rl.encoding import encode
from planning.rl.executor import ExecutorConfig, PolicyExecutor, SafetyMargins, _far_lane
from planning.rl.reward import decision_reward
from planning.rules import RulesConfig
from planning.safety import cut_in
from sims.batched.physics import steering_control_rad
from sims.batched.state import BatchConfig, BatchState, from_rows
from sims.constants import LANE_WIDTH_M
from sims.groundtruth import Centreline, EgoState, LaneGeometry, LaneId, VehicleState
from sims.idm import IdmParameters, idm_acceleration, idm_plus_acceleration

pytestmark = pytest.mark.contract

RECORDED = Path(__file__).parent / "data" / "twin-scenes.npz"
CONFIG = BatchConfig(ego_control="follow")


def _lane_id(index: int) -> LaneId:
    return LaneId(start="0", end="1", index=int(index))  # highway-v0's one road edge


def _recorded() -> list[tuple[SceneState, BatchState]]:
    with np.load(RECORDED, allow_pickle=False) as data:
        count = len({key.split("/")[0] for key in data.files})
        scenes = []
        for k in range(count):
            x, y, heading, speed, length, width, lane = data[f"{k}/ego"]
            ego = EgoState(
                x_m=x,
                y_m=y,
                heading_rad=heading,
                speed_mps=speed,
                length_m=length,
                width_m=width,
                lane=_lane_id(lane),
                crashed=False,
                on_road=True,
                box_on_road=True,
            )
            vehicles = tuple(
                VehicleState(
                    vehicle_id=int(row[0]),
                    x_m=row[1],
                    y_m=row[2],
                    heading_rad=row[3],
                    speed_mps=row[4],
                    length_m=row[5],
                    width_m=row[6],
                )
                for row in data[f"{k}/vehicles"]
            )
            lanes = tuple(
                LaneGeometry(
                    lane=_lane_id(index),
                    width_m=lane_width,
                    speed_limit_mps=limit,
                    centreline=Centreline(*line),
                )
                for (index, lane_width, limit), line in zip(
                    data[f"{k}/lanes"], data[f"{k}/centrelines"], strict=True
                )
            )
            scene = SceneState(
                time_s=float(data[f"{k}/time_s"]), ego=ego, vehicles=vehicles, lanes=lanes
            )
            state = from_rows(
                data[f"{k}/rows"][None],
                data[f"{k}/steps"][None],
                device=torch.device("cpu"),
                dtype=torch.float64,
            )
            scenes.append((scene, state))
    return scenes


SCENES = _recorded()


def test_the_recording_holds_scenes_with_traffic_in_every_lane():
    assert len(SCENES) >= 12
    lanes = {int(row) for _, state in SCENES for row in state.lane[0].tolist()}
    assert lanes == set(range(CONFIG.lanes))


@pytest.mark.parametrize("index", range(len(SCENES)))
def test_observation_is_the_same_on_both_paths(index):
    scene, state = SCENES[index]
    expected = encode(scene, cruise_mps=27.5, changing_direction=-1)
    got = encode_batch(state, CONFIG, torch.tensor([27.5]), torch.tensor([-1]))[0].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


MARGINS = {
    "rules": SafetyMargins(),
    "cut-in": SafetyMargins(cut_in_check=True),
    "thin": SafetyMargins(min_front_gap_m=2.0, min_rear_gap_m=2.0, far_lane_clearance_m=5.0),
}
ABORT_FRACTION = RulesConfig().abort_fraction


def _scene_path_allows(
    scene: SceneState, lane: LaneGeometry, margins: SafetyMargins, *, fraction: float
) -> bool:
    """What the executor decides for one perceived scene: its veto to start a change, or the two
    checks it runs to keep one going (the gap at the abort fraction, and the cut-in check)."""
    executor = PolicyExecutor(safety_layer=True, executor_config=ExecutorConfig(margins=margins))
    executor.reset()
    if fraction == 1.0:
        return not executor._vetoes(scene, lane)
    far = _far_lane(scene, lane)
    cutting_in = margins.cut_in_check and bool(
        cut_in(far, scene.ego.speed_mps, margins.far_lane_clearance_m)
    )
    return executor._is_safe(scene, lane, fraction=fraction) and not cutting_in


def test_safety_layer_judges_every_change_alike_on_both_paths():
    verdicts = []
    for scene, state in SCENES:
        for side in (-1, 1):
            lane = scene.lane(scene.ego.lane.index + side)
            if lane is None:
                continue
            for name, margins in MARGINS.items():
                for fraction in (1.0, ABORT_FRACTION):
                    expected = _scene_path_allows(scene, lane, margins, fraction=fraction)
                    got = change_is_safe(
                        state,
                        CONFIG,
                        torch.tensor([lane.lane.index]),
                        fraction=fraction,
                        margins=margins,
                    )
                    assert bool(got[0]) == expected, (scene.time_s, side, name, fraction)
                    verdicts.append(expected)
    # the recording asks real questions: some changes are refused, some allowed
    assert 0.2 < np.mean(verdicts) < 0.9


@pytest.mark.parametrize("index", range(len(SCENES)))
def test_builtin_steering_is_the_engines_on_the_same_scene(index):
    scene, state = SCENES[index]
    lane = scene.lane(scene.ego.lane.index)
    controller = BuiltinController(dt_s=1 / 15)
    controller.reference = LaneChangeReference(min_offset_m=math.inf)  # track the centre itself
    plan = Plan(
        target_lane=lane.lane, target_speed_mps=25.0, centreline=lane.centreline, decision="cruise"
    )
    command = controller.control(scene.ego, plan)
    offset = state.y_m[:, 0] - state.lane[:, 0].double() * LANE_WIDTH_M
    engine = steering_control_rad(offset, state.speed_mps[:, 0], state.heading_rad[:, 0], 0.0)
    assert command.steering_rad == pytest.approx(float(engine[0]), abs=1e-9)


GRID = [
    (speed, lane_change, squared, crashed)
    for speed in (0.0, 19.0, 24.3, 31.0)
    for lane_change in (-1.0, 0.0, 1.0)
    for squared in (0.0, 2.7)
    for crashed in (0.0, 1.0)
]


def test_reward_is_the_same_for_one_episode_and_for_a_batch():
    one = [decision_reward(*values) for values in GRID]
    columns = [torch.tensor(column, dtype=torch.float64) for column in zip(*GRID, strict=True)]
    batch = decision_reward(columns[0], columns[1], columns[2], columns[3] > 0)
    assert batch.tolist() == one
    # by hand: standing still, asking for a change: -0.05; at 31 m/s, changing, 2.7 m2/s4, crashed:
    # 1 - 0.05 - 0.05 x 2.7 / 9 - 5 = -4.065
    assert one[0] == pytest.approx(-0.05) and one[-1] == pytest.approx(-4.065)


@pytest.mark.parametrize("model", [idm_acceleration, idm_plus_acceleration])
def test_car_following_is_the_same_for_floats_arrays_and_tensors(model):
    speeds, gaps, leads = (0.0, 12.0, 27.0), (0.05, 8.0, 60.0), (0.0, 20.0, 33.0)
    cases = [(v, g, lead) for v in speeds for g in gaps for lead in leads]
    parameters = IdmParameters(time_gap_s=0.6)
    one = [
        model(v, max(v, 1.0), gap_m=g, lead_speed_mps=lead, parameters=parameters)
        for v, g, lead in cases
    ]
    v, g, lead = (np.array(column) for column in zip(*cases, strict=True))
    array = model(v, np.maximum(v, 1.0), gap_m=g, lead_speed_mps=lead, parameters=parameters)
    tensor = model(
        torch.tensor(v),
        torch.tensor(np.maximum(v, 1.0)),
        gap_m=torch.tensor(g),
        lead_speed_mps=torch.tensor(lead),
        parameters=parameters,
    )
    np.testing.assert_array_equal(array, one)
    np.testing.assert_allclose(tensor.numpy(), one, rtol=1e-12, atol=1e-12)
