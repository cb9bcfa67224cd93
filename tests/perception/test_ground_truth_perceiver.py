"""Ground truth within a range, and within the camera's window (the camera perceiver's oracle)."""

from __future__ import annotations

from perception.camera import CnnPerceiver
from perception.ground_truth_perceiver import CameraWindowOracle, GroundTruthPerceiver
from sims.dataset import FrameSpec
from sims.env import SimFrame
from sims.groundtruth import GroundTruth, VehicleState
from tests.helpers import ego_at


def _frame(*offsets: tuple[float, float]) -> SimFrame:
    ego = ego_at(1, x_m=100.0)  # y 4 m
    others = tuple(
        VehicleState(k, 100.0 + dx, 4.0 + dy, 0.0, 20.0, 5.0, 2.0)
        for k, (dx, dy) in enumerate(offsets)
    )
    return SimFrame(GroundTruth(time_s=0.0, ego=ego, vehicles=others, lanes=()), image=None)


def test_the_camera_oracle_reports_exactly_the_vehicles_its_window_shows():
    # The dataset's default window: 256 x 64 px at 2 px/m, so 64 m ahead and behind, 16 m aside.
    frame = _frame((63.0, 0.0), (65.0, 0.0), (-64.0, 15.9), (10.0, 16.5), (150.0, 0.0))
    seen = CameraWindowOracle(FrameSpec()).perceive(frame)
    assert [vehicle.vehicle_id for vehicle in seen.vehicles] == [0, 2]
    assert seen.vehicles[0] == frame.truth.vehicles[0]  # exact states, nothing estimated
    small = CameraWindowOracle(FrameSpec(width_px=128, height_px=32, scaling_px_per_m=2.0))
    assert [vehicle.vehicle_id for vehicle in small.perceive(frame).vehicles] == []
    everything = GroundTruthPerceiver().perceive(frame)
    assert len(everything.vehicles) == 5


def test_the_camera_oracle_sees_through_the_shipped_networks_window():
    # The oracle bounds what the shipped camera perceiver can see: the same window, from its card.
    assert CameraWindowOracle().frames == CnnPerceiver(device="cpu").camera
