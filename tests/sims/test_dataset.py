"""Perception datasets: labels from the ground truth, shards and manifest, resuming, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from drive.runs.frame_dataset import generate
from sims.dataset import (
    CELL_M,
    LANE_ROWS,
    SCENE_ROWS,
    SLOTS,
    DatasetConfig,
    FrameSpec,
    label,
    load_shards,
    shows_turned,
)
from sims.groundtruth import EgoState, GroundTruth, LaneId, VehicleState
from sims.strict import ConfigError

SMALL = FrameSpec(width_px=128, height_px=32, scaling_px_per_m=1.0, stack=2, stride_steps=3)


def _truth(*vehicles: tuple[float, float, float]) -> GroundTruth:
    ego = EgoState(
        x_m=100.0,
        y_m=4.0,
        heading_rad=0.0,
        speed_mps=25.0,
        length_m=5.0,
        width_m=2.0,
        lane=LaneId("0", "1", 1),
        crashed=False,
        on_road=True,
        box_on_road=True,
    )
    others = tuple(
        VehicleState(k, 100.0 + dx, 4.0 + dy, 0.0, speed, 5.0, 2.0)
        for k, (dx, dy, speed) in enumerate(vehicles)
    )
    return GroundTruth(time_s=0.0, ego=ego, vehicles=others, lanes=())


def test_labels_are_relative_nearest_first_and_only_in_view():
    truth = _truth((30.0, 0.0, 20.0), (-10.0, 4.0, 30.0), (200.0, 0.0, 25.0))
    labels = label(truth, SMALL)  # the window is 128 m x 32 m: the vehicle 200 m ahead is out
    vehicles = labels["vehicles"]
    assert vehicles.shape == (SLOTS, 7)
    np.testing.assert_allclose(vehicles[0], [1, -10, 4, 5, 0, 1, 0])
    np.testing.assert_allclose(vehicles[1], [1, 30, 0, -5, 0, 1, 0])
    assert vehicles[2:].sum() == 0
    occupancy = labels["occupancy"]
    assert occupancy.shape == (LANE_ROWS, math.ceil(128 / CELL_M)) and occupancy.sum() == 2
    assert occupancy[LANE_ROWS // 2, int((30 + 64) // CELL_M)] == 1  # own lane, 30 m ahead
    assert occupancy[LANE_ROWS // 2 + 1, int((-10 + 64) // CELL_M)] == 1  # right lane, behind
    assert labels["ego_lane"] == 1


def test_generation_writes_shards_resumes_and_refuses_other_settings(tmp_path):
    config = DatasetConfig(
        scenario="lead-brake-close",
        episodes=2,
        episodes_per_shard=1,
        seed=0,
        sample_every_steps=30,
        frames=SMALL,
    )
    seen: list[int] = []
    generate(config, tmp_path, on_episode=seen.append)
    assert seen == [0, 1]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [entry["seeds"] for entry in manifest["shards"]] == [[0], [1]]
    data = load_shards(tmp_path)
    samples = sum(entry["samples"] for entry in manifest["shards"])
    assert data["images"].shape == (samples, 2, 32, 128, 3) and data["images"].dtype == np.uint8
    assert data["images"].std() > 10  # road, markings and cars, not a blank frame
    assert data["vehicles"].shape == (samples, SLOTS, 7)
    assert data["scene"].shape == (samples, 2, SCENE_ROWS, 6) and (data["lanes"] == 4).all()
    assert (data["scene"][:, :, 0, 0] == 1).all()  # every frame's block starts with the ego
    # Resume: a lost shard is made again, the finished one is kept as it was.
    (tmp_path / "shard-00001.npz").unlink()
    manifest["shards"] = manifest["shards"][:1]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    kept = (tmp_path / "shard-00000.npz").stat().st_mtime_ns
    generate(config, tmp_path)
    assert (tmp_path / "shard-00001.npz").exists()
    assert (tmp_path / "shard-00000.npz").stat().st_mtime_ns == kept
    with pytest.raises(ConfigError, match="sample_every_steps=30"):
        generate(DatasetConfig(**{**config.__dict__, "sample_every_steps": 15}), tmp_path)


def test_off_the_straight_highway_and_zoomed_frames_are_labelled_without_lanes_and_cropped():
    truth = _truth((30.0, 0.0, 20.0), (-10.0, 4.0, 30.0))
    labels = label(truth, SMALL, straight=False)
    assert labels["occupancy"].sum() == 0 and labels["lane_labels"] == 0
    assert labels["ego_lane"] == 0 and (labels["vehicles"][:, 0] > 0).sum() == 2
    # Drawn at 2.5 times the pixels per metre, the 128 m window shows 51.2 m: 30 m ahead is out.
    zoomed = label(truth, SMALL, zoom=2.5)
    assert zoomed["zoom"] == np.float32(2.5) and zoomed["lane_labels"] == 1
    np.testing.assert_allclose(zoomed["vehicles"][0, :3], [1, -10, 4])
    assert zoomed["vehicles"][1:].sum() == 0
    with pytest.raises(ConfigError, match="valid: none, train, colours, unseen-colours"):
        DatasetConfig(variation="sepia")


def test_a_seed_whose_scripted_event_cannot_be_placed_gives_no_samples(tmp_path):
    # cut-in on seed 1000 puts the ego in the leftmost lane: there is no lane to cut in from.
    config = DatasetConfig(scenario="cut-in", episodes=1, seed=1000, frames=SMALL)
    store = generate(config, tmp_path)
    assert store.manifest["shards"] == [{"shard": 0, "file": None, "seeds": [1000], "samples": 0}]


def test_a_sampling_period_shorter_than_the_stack_is_refused():
    # Three frames two steps apart span four steps: sampling every four steps never filled a stack
    # and wrote datasets without a single sample.
    with pytest.raises(ConfigError, match="sample_every_steps must be > 4.*got 4"):
        DatasetConfig(sample_every_steps=4, frames=FrameSpec(stack=3, stride_steps=2))
    assert DatasetConfig(sample_every_steps=5, frames=FrameSpec(stack=3, stride_steps=2))


def test_a_stack_is_kept_for_a_turned_vehicle_in_view_and_not_for_oncoming_traffic():
    def truth_with(heading_rad: float, dx_m: float = 20.0) -> GroundTruth:
        truth = _truth((dx_m, 4.0, 25.0))
        vehicle = truth.vehicles[0]
        turned = VehicleState(0, vehicle.x_m, vehicle.y_m, heading_rad, 25.0, 5.0, 2.0)
        return GroundTruth(time_s=0.0, ego=truth.ego, vehicles=(turned,), lanes=())

    assert shows_turned(truth_with(math.radians(6)), SMALL, min_turn_deg=5)
    assert shows_turned(truth_with(math.radians(-6)), SMALL, min_turn_deg=5)
    assert not shows_turned(truth_with(math.radians(4)), SMALL, min_turn_deg=5)
    assert not shows_turned(truth_with(math.pi), SMALL, min_turn_deg=5)  # oncoming
    assert not shows_turned(truth_with(math.radians(30), dx_m=200.0), SMALL, min_turn_deg=5)
    # 60 m ahead: in the 64 m half window at zoom 1, out of the frame drawn at zoom 1.2 (53 m).
    assert shows_turned(truth_with(math.radians(30), dx_m=60.0), SMALL, min_turn_deg=5)
    assert not shows_turned(
        truth_with(math.radians(30), dx_m=60.0), SMALL, min_turn_deg=5, zoom=1.2
    )
    assert shows_turned(truth_with(0.0), SMALL, min_turn_deg=0)  # 0 keeps every stack
    with pytest.raises(ConfigError, match="min_turn_deg must lie in"):
        DatasetConfig(min_turn_deg=90)


def test_only_stacks_that_start_with_a_turned_vehicle_are_kept(tmp_path):
    config = DatasetConfig(
        scenario="highway-dense", episodes=1, seed=6000, sample_every_steps=7, frames=SMALL
    )
    every = load_shards(generate(config, tmp_path / "every").out)
    turned = DatasetConfig(**{**config.__dict__, "min_turn_deg": 5.0})
    kept = load_shards(generate(turned, tmp_path / "turned").out)
    assert 0 < len(kept["images"]) < len(every["images"])
    first = kept["scene"][:, 0]  # each sample's first frame: presence, x, y, heading...
    turn = first[:, 1:, 3] - first[:, :1, 3]
    relative = np.abs(np.degrees(np.arctan2(np.sin(turn), np.cos(turn))))
    in_view = (first[:, 1:, 0] > 0) & (np.abs(first[:, 1:, 1] - first[:, :1, 1]) <= 64)
    in_view &= np.abs(first[:, 1:, 2] - first[:, :1, 2]) <= 16
    assert ((relative >= 5) & in_view).any(axis=1).all()
