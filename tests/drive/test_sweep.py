"""``drive sweep``: the sweep file, the trials it makes, and the table's intervals (quick); a sweep
run, killed and resumed on a local Ray (slow)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drive.training.sweep import interval, load_sweep, trial_name
from sims.strict import ConfigError
from tests.helpers import wait_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "sweeps" / "batched-extractors.toml"


def test_the_example_sweep_is_two_settings_by_three_seeds_on_the_batched_engine() -> None:
    sweep = load_sweep(EXAMPLE)
    assert sweep.settings == ((("extractor", "mlp"),), (("extractor", "attention"),))
    assert sweep.seeds == (0, 1, 2)
    config = sweep.trial_config(sweep.settings[1], 2)
    assert (config.sim, config.extractor, config.seed, config.steps) == (
        "batched",
        "attention",
        2,
        1024,
    )
    assert trial_name(sweep.settings[1], 2) == "extractor=attention,seed=2"


def test_random_search_draws_the_same_settings_from_its_seed(tmp_path) -> None:
    path = tmp_path / "random.toml"
    path.write_text(
        "samples = 3\nsearch_seed = 7\n[train]\nsim = 'batched'\n"
        "[random]\ntime_gap_s = {low = 1.0, high = 2.0}\nalgo = {choice = ['dqn', 'qrdqn']}\n"
    )
    first, again = load_sweep(path), load_sweep(path)
    assert first == again and len(first.settings) == 3
    for setting in first.settings:
        values = dict(setting)
        assert 1.0 <= values["time_gap_s"] <= 2.0 and values["algo"] in ("dqn", "qrdqn")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[train]\nstep = 3\n", "sweep.toml \\[train\\]: unknown key 'step'; valid keys: algo"),
        ("[grid]\nseed = [1, 2]\n", "unknown key 'seed'"),
        ("seeds = [-1]\n", "seeds must be a list of integers >= 0"),
        ("[grid]\nextractor = 'mlp'\n", "key 'extractor': expected a list of values"),
        (
            "[grid]\nextractor = ['mlp', 'cnn']\n",
            "trial {'extractor': 'cnn'}: unknown extractor 'cnn'",
        ),
        ("[random]\nsteps = {low = 1}\n", "expected {low = A, high = B} or {choice"),
        ("grace = 3\n", "unknown key 'grace'; valid keys: grace_steps"),
    ],
)
def test_a_bad_sweep_file_is_one_line_naming_the_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


def test_the_interval_of_three_seeds_is_students_t() -> None:
    result = interval([1.0, 2.0, 3.0])
    half = 4.302653 * 1.0 / math.sqrt(3)  # t(0.975, 2 degrees of freedom), standard deviation 1
    assert result["mean"] == 2.0 and result["n"] == 3
    assert result["ci95"] == pytest.approx([2.0 - half, 2.0 + half], abs=1e-4)
    assert interval([5.0])["ci95"] is None  # no interval from one seed


@pytest.mark.slow
def test_a_killed_sweep_resumes_and_keeps_the_best_policy(tmp_path) -> None:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        "seeds = [0, 1]\n[train]\nsim = 'batched'\nsteps = 256\nenvs = 16\ndevice = 'cpu'\n"
        "eval_every = 128\neval_episodes = 4\ncheckpoint_every = 128\nextractor = 'mlp'\n"
    )
    out = tmp_path / "out"
    command = [sys.executable, "-m", "drive.cli", "sweep", str(sweep), "--out", str(out)]
    environment = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    process = subprocess.Popen(command, env=environment, start_new_session=True)
    try:  # killed once a trial has validated: Tune's state and a checkpoint are on disk
        assert wait_for(lambda: any(out.glob("trials/*/state.json")), timeout_s=600)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    time.sleep(2)
    resumed = subprocess.run([*command, "--resume"], env=environment, timeout=900, check=False)
    assert resumed.returncode == 0
    document = json.loads((out / "sweep.json").read_text())
    assert document["complete"] and len(document["trials"]) == 2
    assert [point["steps"] for point in document["trials"][0]["curve"]] == [128, 256]
    assert (out / "best" / "policy.zip").exists() and (out / "best" / "policy.json").exists()
