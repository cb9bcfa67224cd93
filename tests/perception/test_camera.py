"""The CNN perceiver: its detections reach the planner's encoding unchanged, and it runs in the loop."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from perception.camera import CnnPerceiver, TrackedCnnPerceiver
from perception.cnn import PerceptionOutput, StnPerceptionNet, scale_targets
from perception.train import PerceptionTrainConfig
from planning.rl.encoding import DISTANCE_SCALE_M, LATERAL_SCALE_M, RELATIVE_SPEED_SCALE_MPS, encode
from sims.dataset import FrameSpec
from sims.env import SimEnv
from sims.scenario import load_scenario
from sims.strict import ConfigError


def _weights(folder, frames: FrameSpec) -> None:
    folder.mkdir()
    network = StnPerceptionNet(frames, width=4)
    save_file(
        {k: v.contiguous() for k, v in network.state_dict().items()}, folder / "best.safetensors"
    )
    card = {"config": asdict(PerceptionTrainConfig(width=4)), "frame_spec": asdict(frames)}
    (folder / "card.json").write_text(json.dumps(card))


class _FixedSlots(torch.nn.Module):
    """Stands in for the network: always reports the same vehicles (metres and m/s)."""

    def __init__(self, vehicles: np.ndarray, cells: int) -> None:
        super().__init__()
        slots = torch.zeros(1, 32, 7)
        slots[:, :, 0] = -20.0  # absent
        slots[0, : len(vehicles)] = scale_targets(torch.as_tensor(vehicles))
        slots[0, : len(vehicles), 0] = 20.0  # present
        self.output = PerceptionOutput(
            slots=slots,
            occupancy=torch.zeros(1, 7, cells),
            ego_lane=torch.zeros(1, 4),
            theta=torch.eye(2, 3)[None],
        )

    def forward(self, images: torch.Tensor) -> PerceptionOutput:
        assert images.shape == (1, 64, 256, 9)
        return self.output


def test_detections_round_trip_through_the_planners_encoding(tmp_path):
    frames = FrameSpec()
    _weights(tmp_path / "net", frames)
    perceiver = CnnPerceiver(tmp_path / "net", device="cpu")
    # presence, dx, dy, dvx, dvy, cos, sin: velocities along each vehicle's heading
    heading = 0.05
    vehicles = np.array(
        [
            [1, 30.0, 4.0, -3.0, 0.0, 1.0, 0.0],
            [1, -12.5, -4.0, 2.0, 0.0, 1.0, 0.0],
            [
                1,
                8.0,
                2.0,
                (22 + 1) * np.cos(heading) - 22,
                23 * np.sin(heading),
                np.cos(heading),
                np.sin(heading),
            ],
        ],
        dtype=np.float32,
    )
    perceiver.network = _FixedSlots(vehicles, frames.cells)
    sim = SimEnv(load_scenario("highway"), render=True, view=frames.view())
    try:
        frame = sim.reset(seed=3, ego_speed_mps=22.0)
        scene = perceiver.perceive(frame)
    finally:
        sim.close()
    assert len(scene.vehicles) == 3
    observation = encode(scene, cruise_mps=22.0, changing_direction=0)
    order = np.argsort(np.hypot(vehicles[:, 1], vehicles[:, 2]))
    scale = np.array(
        [
            1,
            DISTANCE_SCALE_M,
            LATERAL_SCALE_M,
            RELATIVE_SPEED_SCALE_MPS,
            RELATIVE_SPEED_SCALE_MPS,
            1,
            1,
        ]
    )
    np.testing.assert_allclose(observation[1:4] * scale, vehicles[order], atol=1e-4)
    assert not observation[4:].any()


def test_a_missing_network_is_named(tmp_path):
    with pytest.raises(ConfigError, match="best.safetensors"):
        CnnPerceiver(tmp_path, device="cpu")


def test_the_perceiver_refuses_frames_of_another_size(tmp_path):
    _weights(tmp_path / "net", FrameSpec(width_px=128, height_px=32))
    perceiver = CnnPerceiver(tmp_path / "net", device="cpu")
    sim = SimEnv(load_scenario("highway"), render=True, view=FrameSpec().view())
    try:
        with pytest.raises(RuntimeError, match="network reads"):
            perceiver.perceive(sim.reset(seed=0))
    finally:
        sim.close()


def test_the_tracked_perceiver_keeps_identities_and_knows_when_its_frames_show_motion(tmp_path):
    frames = FrameSpec()  # a stack of 3 frames 2 steps apart: 5 frames fill it
    _weights(tmp_path / "net", frames)
    perceiver = TrackedCnnPerceiver(tmp_path / "net", device="cpu")
    vehicles = np.array(
        [[1, 30.0, 4.0, -3.0, 0.0, 1.0, 0.0], [1, -12.5, -4.0, 2.0, 0.0, 1.0, 0.0]],
        dtype=np.float32,
    )
    perceiver.network = _FixedSlots(vehicles, frames.cells)
    read: list[bool] = []
    tracked = perceiver._vehicles

    def spy(detections, *, time_s):  # the detections' flags, on their way to the tracker
        read.append(all(found.velocity_read for found in detections))
        return tracked(detections, time_s=time_s)

    perceiver._vehicles = spy
    sim = SimEnv(load_scenario("highway"), render=True, view=frames.view())
    try:
        scenes = [perceiver.perceive(sim.reset(seed=3, ego_speed_mps=22.0))]
        for _ in range(5):
            step = sim.step(acceleration_mps2=0.0, steering_rad=0.0)
            scenes.append(perceiver.perceive(step.frame))
        perceiver.reset()
        after_reset = perceiver.perceive(sim.reset(seed=4, ego_speed_mps=22.0))
    finally:
        sim.close()
    for scene in [*scenes, after_reset]:  # the first step's detections are tracks at once
        ahead, behind = sorted(scene.vehicles, key=lambda vehicle: -vehicle.x_m)
        assert (ahead.vehicle_id, behind.vehicle_id) == (1, 2)
        assert ahead.x_m - scene.ego.x_m == pytest.approx(30.0, abs=0.5)
    assert read == [False] * 4 + [True] * 2 + [False]
