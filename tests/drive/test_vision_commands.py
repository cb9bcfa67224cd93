"""Smoke runs of ``drive bench vision`` and ``drive synthesize`` with tiny trained models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from drive.cli import app
from perception.detector import DetectorConfig
from perception.train_detector import DetectorTrainConfig, train_detector
from perception.train_gan import GanTrainConfig, train_gan
from perception.vision_data import load_vision_frames
from sims.dataset import load_shards
from sims.strict import ConfigError


@pytest.fixture(scope="module")
def trained(vision_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny dataset and a detector, a cGAN and a DCGAN trained on it for a few steps."""
    root = tmp_path_factory.mktemp("vision")
    data = vision_data
    tiny = DetectorConfig(width_mult=0.25, fpn_channels=16, representation=32)
    train_detector(
        DetectorTrainConfig(epochs=1, batch_size=4, warmup_steps=1, detector=tiny, device="cpu"),
        data,
        data,
        root / "detector",
    )
    for kind in ("cgan", "dcgan"):
        config = GanTrainConfig(kind=kind, steps=2, batch_size=4, width=8, device="cpu")
        train_gan(config, [data], None, root / kind)
    return {"data": data, **{name: root / name for name in ("detector", "cgan", "dcgan")}}


def test_bench_vision_writes_every_figure_with_its_device(trained, tmp_path):
    out = tmp_path / "bench.json"
    arguments = ["bench", "vision", "--data", str(trained["data"]), "--json", str(out)]
    for name in ("detector", "cgan", "dcgan"):
        arguments += [f"--{name}", str(trained[name])]
    # The same frames twice as held-out sets, and as the reference: real frames of the same
    # episodes score near 0.
    arguments += ["--data", str(trained["data"]), "--reference", str(trained["data"])]
    result = CliRunner().invoke(app, [*arguments, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["data"] == [str(trained["data"])] * 2
    assert 0 <= document["frechet_own_real_reference"] < document["frechet_own_shuffled"]
    for key in (
        "detector_map50",
        "detector_map",
        "cgan_psnr_db",
        "cgan_ssim",
        "baseline_painted_ssim",
    ):
        assert np.isfinite(document[key])
    assert 0 <= document["detector_map50"] <= 1 and 0 <= document["cgan_ssim"] <= 1
    for key in ("frechet_own_cgan", "frechet_own_dcgan", "frechet_own_shuffled"):
        assert document[key] > 0
    assert document["device"] == dict.fromkeys(("detector", "cgan", "dcgan", "frechet"), "cpu")
    assert (tmp_path / "bench-examples.png").stat().st_size > 0


def test_synthesize_keeps_the_labels_and_replaces_the_frames(trained, tmp_path):
    out = tmp_path / "synthetic"
    arguments = ["synthesize", "--from", str(trained["data"]), "--out", str(out)]
    result = CliRunner().invoke(
        app, [*arguments, "--weights", str(trained["cgan"]), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    real, synthetic = load_shards(trained["data"]), load_shards(out)
    assert synthetic.keys() == real.keys()
    for key in ("vehicles", "occupancy", "ego_lane", "scene", "lanes"):
        np.testing.assert_array_equal(synthetic[key], real[key])
    assert synthetic["images"].shape == real["images"].shape
    assert not np.array_equal(synthetic["images"], real["images"])
    assert len(load_vision_frames([out])) == len(load_vision_frames([trained["data"]]))
    again = CliRunner().invoke(
        app, [*arguments, "--weights", str(trained["cgan"]), "--device", "cpu"]
    )
    assert again.exit_code == 0, again.output  # every shard is there: nothing to do


def test_bench_vision_names_missing_held_out_frames(tmp_path):
    result = CliRunner().invoke(app, ["bench", "vision", "--data", str(tmp_path / "none")])
    assert isinstance(result.exception, ConfigError)
    assert "drive dataset --out data/vision-test" in str(result.exception)


def test_the_painted_baseline_uses_highway_envs_flat_colours():
    from drive.bench.bench_vision import paint_layouts

    layouts = np.zeros((1, 3, 2, 4), dtype=np.uint8)
    layouts[0, 0, 0, :] = 1  # a marking row
    layouts[0, 1, 1, 0] = 1  # another vehicle
    layouts[0, 2, 1, 3] = 1  # the ego
    painted = paint_layouts(layouts, vehicles=True)[0]
    np.testing.assert_array_equal(painted[0], [[255, 255, 255]] * 4)
    np.testing.assert_array_equal(
        painted[1], [[100, 200, 255], [100] * 3, [100] * 3, [200, 200, 0]]
    )
    assert (paint_layouts(layouts, vehicles=False)[0, 1] == 100).all()
