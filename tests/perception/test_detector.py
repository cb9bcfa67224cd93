"""The Faster R-CNN detector: no rescaling, mAP sanity, a tiny training run, load, the commands."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from drive.cli import app
from perception.detector import (
    Detection,
    DetectorConfig,
    build_detector,
    evaluate_detector,
    load_detector,
    map_figures,
    to_tensors,
)
from perception.train_detector import DetectorTrainConfig, flipped_batch, train_detector
from perception.vision_data import VisionFrames, load_vision_frames
from sims.dataset import FrameSpec
from sims.strict import ConfigError
from tests.helpers import VISION_FRAMES

# 128 x 32 px at the detector's 2 px/m: vehicles are the real 10 x 4 px, the frames a quarter.
SMALL = VISION_FRAMES
TINY = DetectorConfig(width_mult=0.25, fpn_channels=16, representation=32)


@pytest.fixture(scope="module")
def data(vision_data: Path) -> Path:
    return vision_data


@pytest.fixture(scope="module")
def frames(data: Path) -> VisionFrames:
    return load_vision_frames([data])


@pytest.fixture(scope="module")
def run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("detector") / "run"
    config = DetectorTrainConfig(
        epochs=3, batch_size=4, warmup_steps=2, detector=TINY, device="cpu"
    )
    return out, train_detector(config, data, data, out)


@pytest.mark.parametrize("spec", [FrameSpec(), SMALL])
def test_the_transform_keeps_the_frame_size(spec):
    model = build_detector(spec, TINY).eval()
    images = torch.rand(2, 3, spec.height_px, spec.width_px)
    batch, _ = model.transform(list(images))
    assert batch.image_sizes == [(spec.height_px, spec.width_px)] * 2
    normalised = (images - 0.4) / 0.25
    torch.testing.assert_close(
        batch.tensors[:, :, : spec.height_px, : spec.width_px], normalised, atol=1e-5, rtol=0
    )


def test_map_is_one_for_the_true_boxes_and_lower_for_shifted_ones():
    truths = [
        np.array([[10, 10, 20, 14], [40, 20, 50, 24]], np.float32),
        np.array([[0, 0, 10, 4]], np.float32),
    ]
    perfect = [Detection(t, np.ones(len(t), np.float32)) for t in truths]
    assert map_figures(perfect, truths) == {"map": 1.0, "map50": 1.0}
    # 2 px off a 10 px long box: IoU 8/12, found at 0.5 but not at the stricter thresholds.
    near = map_figures([Detection(t + [2, 0, 2, 0], np.ones(len(t))) for t in truths], truths)
    assert near["map50"] == 1.0 and near["map"] < 0.5
    # 4 px off: IoU 6/14, missed.
    far = map_figures([Detection(t + [4, 0, 4, 0], np.ones(len(t))) for t in truths], truths)
    assert far == {"map": 0.0, "map50": 0.0}
    empty = [Detection(np.zeros((0, 4), np.float32), np.zeros(0, np.float32)) for _ in truths]
    assert map_figures(empty, truths) == {"map": 0.0, "map50": 0.0}


def test_flips_move_the_boxes_with_the_pixels(frames):
    chosen = np.arange(len(frames))
    images, boxes = flipped_batch(frames, chosen, np.random.default_rng(0), flips=True)
    assert any(not np.array_equal(images[i], frames.images[i]) for i in chosen)
    for index in chosen:
        for box, flipped_box in zip(frames.boxes(int(index)), boxes[index], strict=True):
            if not np.array_equal(box, np.round(box)):
                continue  # a rotated vehicle's box: fractional pixels
            x0, y0, x1, y1 = box.astype(int)
            u0, v0, u1, v1 = flipped_box.astype(int)
            original = frames.images[index, y0:y1, x0:x1].astype(int)
            moved = images[index, v0:v1, u0:u1].astype(int)
            assert moved.shape == original.shape
            assert moved.sum() == original.sum()  # the same pixels, possibly mirrored


def test_a_tiny_training_run_lowers_the_loss_keeps_the_best_and_resumes(data, run):
    out, history = run
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for name in ("best.safetensors", "card.json", "last.pt"):
        assert (out / name).exists()
    card = json.loads((out / "card.json").read_text())
    assert card["detector"] == {"width_mult": 0.25, "fpn_channels": 16, "representation": 32}
    assert card["validation_map50"] == max(r["validation_map50"] for r in history)
    # Ctrl-C after the second epoch keeps both; --resume repeats the third exactly.
    interrupted = out.parent / "interrupted"
    config = DetectorTrainConfig(
        epochs=3, batch_size=4, warmup_steps=2, detector=TINY, device="cpu"
    )

    def stop_after_two(record: dict) -> None:
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_detector(config, data, data, interrupted, on_epoch=stop_after_two)
    resumed = train_detector(config, data, data, interrupted, resume=True)
    assert [r["epoch"] for r in resumed] == [1, 2, 3]
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in history]
    with pytest.raises(ConfigError, match="already holds"):
        train_detector(config, data, data, out)


def test_load_detector_round_trips_and_evaluates(run, frames):
    out, _ = run
    model = load_detector(out, device="cpu")
    assert not model.training
    with torch.no_grad():
        outputs = model(to_tensors(frames.images[:2], "cpu"))
    assert len(outputs) == 2 and outputs[0]["boxes"].shape[1] == 4
    figures = evaluate_detector(model, frames, device="cpu", batch_size=8)
    assert 0.0 <= figures["map50"] <= 1.0 and 0.0 <= figures["map"] <= figures["map50"]
    assert figures["frames"] == len(frames) and figures["frames_per_s"] > 0
    with pytest.raises(ConfigError, match="no best.safetensors"):
        load_detector(out.parent, device="cpu")


def test_train_detector_and_detect_commands(data, run, frames, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "train-detector", "--data", str(data), "--validation", str(data),
            "--out", str(tmp_path / "cli-run"), "--epochs", "1", "--batch-size", "8",
            "--width-mult", "0.25", "--fpn-channels", "16", "--device", "cpu",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    command = json.loads((tmp_path / "cli-run" / "card.json").read_text())["command"]
    assert command.startswith(f"drive train-detector --data {data} --validation {data}")
    assert "--epochs 1 --batch-size 8" in command and "--width-mult 0.25" in command
    # A video at twice the detector's scale: frames are shrunk to 2 px/m for the detector.
    video = tmp_path / "in.mp4"
    big = [cv2.resize(image, None, fx=2, fy=2) for image in frames.images[:5]]
    imageio.mimwrite(video, big, fps=5, macro_block_size=1)
    out = tmp_path / "out.mp4"
    result = runner.invoke(
        app,
        ["detect", "--video", str(video), "--out", str(out), "--weights", str(run[0]),
         "--px-per-m", "4", "--threshold", "0.1", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = imageio.mimread(out)
    assert len(written) == 5 and written[0].shape == big[0].shape
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("hello")
    for bad in (tmp_path / "missing.mp4", not_a_video):
        arguments = ["--video", str(bad), "--out", str(out), "--weights", str(run[0])]
        result = runner.invoke(app, ["detect", *arguments])
        assert isinstance(result.exception, ConfigError), result.output
        assert str(bad) in str(result.exception)
