"""``drive dataset --dynamics`` and ``drive train-dynamics`` end to end, on a tiny budget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from control.dynamics_model import load_dynamics
from drive.runs.dynamics_dataset import (
    DynamicsDatasetConfig,
    generate_dynamics,
    load_dynamics_dataset,
)
from drive.training.train_dynamics import DynamicsTrainConfig, DynamicsTrainer
from sims.parallel import Workers
from sims.strict import ConfigError
from tests.helpers import drive_in_process


def test_log_the_lagged_car_fit_it_keep_the_best_and_resume(tmp_path):
    tiny = {"plant": "lagged", "episodes": 2, "duration_s": 4.0}
    generate_dynamics(DynamicsDatasetConfig(**tiny, seed=0), tmp_path / "train")
    generate_dynamics(DynamicsDatasetConfig(**tiny, seed=9), tmp_path / "val")
    settings, episodes = load_dynamics_dataset(tmp_path / "train")
    assert settings["config"]["plant"] == "lagged" and len(episodes) == 2
    step = episodes[0]
    assert step["state"].shape == step["next_state"].shape == (60, 4)
    np.testing.assert_array_equal(step["state"][1:], step["next_state"][:-1])
    # Two worker processes write the same episodes, byte for byte.
    generate_dynamics(DynamicsDatasetConfig(**tiny, seed=0), tmp_path / "pool", workers=Workers(2))
    for name in ("episode-00000.npz", "episode-00001.npz"):
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "train" / name).read_bytes()
    # The same folder resumes; other settings are refused.
    generate_dynamics(DynamicsDatasetConfig(**tiny, seed=0), tmp_path / "train")
    with pytest.raises(ConfigError, match="a dataset of other settings"):
        generate_dynamics(DynamicsDatasetConfig(plant="lagged", episodes=3), tmp_path / "train")

    def train(epochs: int, *, resume: bool) -> list:
        config = DynamicsTrainConfig(epochs=epochs, steps_per_epoch=20, learning_rate=0.05)
        run = DynamicsTrainer(
            config, tmp_path / "train", tmp_path / "val", tmp_path / "run", resume=resume
        )
        return run.run()

    result = drive_in_process(
        "train-dynamics",
        *("--data", str(tmp_path / "train"), "--validation", str(tmp_path / "val")),
        *("--out", str(tmp_path / "run"), "--epochs", "2", "--steps-per-epoch", "20"),
    )
    assert result.returncode == 0, result.stderr
    history = train(2, resume=True)  # nothing left to run: the history the command kept
    assert len(history) == 2
    assert history[-1]["validation_loss"] < history[-1]["nominal_validation_loss"]
    assert train(3, resume=True)[:2] == history  # resumed, not rerun
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert card["plant"] == "lagged" and "sha256" in card
    learned = load_dynamics(tmp_path / "run" / "best.safetensors")
    assert learned.wheelbase_scale > 1.0 and learned.steering_lag_s > 0.1


def test_plant_refusals_are_one_line(tmp_path):
    result = drive_in_process("rollout", "--scenario", "highway", "--plant", "wobbly")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown plant 'wobbly'; valid: highway-env, lagged, long-wheelbase, steering-bias"
    )
    result = drive_in_process("dataset", "--out", str(tmp_path / "d"), "--plant", "lagged")
    assert result.returncode == 2 and "--plant applies to --dynamics" in result.stderr
