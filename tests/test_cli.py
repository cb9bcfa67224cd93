"""Smoke runs of each command, as a user would type them.

The commands run through the console script's entry point, ``drive.cli.main``, with its exit codes
and one-line errors, in this test process (``drive_in_process``): a fresh interpreter spends 8 s
of CPU on its imports alone. Where the process itself is under test, a fresh ``python -m
drive.cli`` runs (``drive``): that it starts and lists the scenarios, that a refusal is one line
on its stderr, and that a signal stops it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

from sims.video import read_video
from tests.helpers import drive_in_process, wait_for

SHORT = """
description = "short test run"
env = "highway-fast-v0"
duration_s = 3.0
seeds = [0]

[env_config]
vehicles_count = 10
"""


def drive(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "drive.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


def test_scenarios_lists_at_least_ten():
    result = drive("scenarios")
    assert result.returncode == 0, result.stderr
    for scenario_id in (
        "highway",
        "highway-fast",
        "merge",
        "roundabout",
        "intersection",
        "exit",
        "racetrack",
        "cut-in",
    ):
        assert scenario_id in result.stdout


def test_misspelt_key_is_one_line_naming_key_and_file(write_scenario):
    path = write_scenario(SHORT.replace("duration_s", "duraton_s"), name="typo.toml")
    result = drive_in_process("rollout", "--scenario", str(path), "--episodes", "1")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "typo.toml" in lines[0] and "'duraton_s'" in lines[0]


def test_unknown_planner_is_one_line():
    result = drive("rollout", "--scenario", "highway-fast", "--planner", "telepathy")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown planner 'telepathy'; valid: rules, rules-idm-plus, rules-bold, default, "
        "default-unguarded, polite, road, road-unguarded, road-engine, road-engine-unguarded, "
        "road-bold, road-bold-unguarded, road-all, road-all-unguarded, or the path of a trained policy (unguarded:PATH: without "
        "its safety layer)"
    )


def _without_timing(path):
    document = json.loads(path.read_text())
    document.pop("timing")
    return document


def test_rollout_json_is_reproducible_independent_of_workers_and_of_its_video(
    write_scenario, tmp_path
):
    scenario = write_scenario(SHORT)
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    first = drive_in_process(
        "rollout", "--scenario", str(scenario), "--episodes", "2", "--seed", "40",
        "--json", str(one), "--video", str(tmp_path / "v.mp4"),
    )  # fmt: skip
    second = drive_in_process(
        "rollout", "--scenario", str(scenario), "--episodes", "2", "--seed", "40",
        "--workers", "2", "--json", str(two),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    # one process in turn, or one episode in each of two workers; recording the first or not
    assert _without_timing(one) == _without_timing(two)
    document = json.loads(one.read_text())
    assert [e["seed"] for e in document["episodes"]] == [40, 41]
    assert document["config"]["stack"] == {
        "perception": "groundtruth",
        "planner": "rules",
        "controller": "mpc",
    }
    for key in ("episodes", "collision_rate", "mean_speed_mps", "mean_distance_m", "mean_return"):
        assert key in document["aggregate"]
    assert len(read_video(tmp_path / "v.mp4")) == 45  # the first episode: 3 s at 15 Hz


def test_rollout_perceives_from_pixels_with_the_shipped_network(write_scenario, tmp_path):
    out = tmp_path / "cnn.json"
    args = ("rollout", "--scenario", str(write_scenario(SHORT)), "--perception", "cnn")
    result = drive_in_process(*args, "--json", str(out), "--video", str(tmp_path / "cnn.mp4"))
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["config"]["stack"]["perception"] == "cnn"
    assert document["timing"]["episodes"][0]["perception_ms"] > 0.1  # a network ran
    frames = read_video(tmp_path / "cnn.mp4")
    assert len(frames) == 45 and frames[0].shape[1] >= 256  # what the camera saw


def _check_demo(out) -> None:
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["aggregate"]["episodes"] == 1
    assert metrics["config"]["complete"] is True
    frames = read_video(out / "demo.mp4")
    assert len(frames) == metrics["episodes"][0]["steps"] >= 20  # one frame per step
    frame = frames[len(frames) // 2].astype(int)
    road = np.all(np.abs(frame - 100) <= 12, axis=-1).mean()
    blue_cars = np.all(np.abs(frame - (100, 200, 255)) <= 40, axis=-1).sum()
    assert road > 0.2, "the road is missing"
    assert blue_cars > 50, "no vehicles are visible"


def test_demo_writes_a_video_of_road_and_vehicles_and_metrics(write_scenario, tmp_path):
    result = drive_in_process(
        "demo", "--out", str(tmp_path), "--scenario", str(write_scenario(SHORT))
    )
    assert result.returncode == 0, result.stderr
    _check_demo(tmp_path)


@pytest.mark.slow
def test_the_readme_demo_drives_its_whole_episode(tmp_path):
    result = drive("demo", cwd=tmp_path)  # as the quick start types it: into ./out
    assert result.returncode == 0, result.stderr
    _check_demo(tmp_path / "out")


def test_eval_writes_the_suite_json_and_flags_regressions(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('description = "tiny"\nscenarios = ["u-turn"]\ntolerance = 0.05\n')
    out = tmp_path / "eval.json"
    result = drive_in_process("eval", "--suite", str(suite), "--workers", "1", "--json", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(out.read_text())
    entry = document["scenarios"]["u-turn"]
    assert {"env", "score", "passed", "predicates", "wall_s"} <= set(entry)
    assert document["passed"] is True and 0 <= document["score"] <= 1
    assert [e["seed"] for e in entry["episodes"]] == [0, 1, 2]

    document["scenarios"]["u-turn"]["score"] = entry["score"] + 0.2  # a better past to fall from
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(document))
    again = drive_in_process(
        "eval", "--suite", str(suite), "--workers", "1", "--baseline", str(baseline)
    )
    assert again.returncode == 1
    assert "regression: u-turn scored" in again.stderr


def test_eval_rejects_an_unknown_suite():
    result = drive_in_process("eval", "--suite", "nightly")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: unknown suite 'nightly'; valid suites: regression"


def test_train_then_rollout_the_policy_and_compare_with_the_baseline(tmp_path):
    run, baseline = tmp_path / "run", tmp_path / "baseline"
    trained = drive_in_process(
        "train", "--scenario", "highway-fast", "--out", str(run), "--steps", "48", "--envs", "1",
        "--eval-every", "48", "--eval-episodes", "1", "--device", "cpu",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "validation return" in trained.stdout and (run / "curve.png").exists()
    again = drive_in_process(
        "train", "--scenario", "highway-fast", "--out", str(run), "--steps", "48"
    )
    assert again.returncode == 2 and "--resume" in again.stderr

    rolled = drive_in_process(
        "rollout", "--scenario", "highway-fast", "--planner", str(run / "best"),
        "--episodes", "1", "--json", str(tmp_path / "rl.json"),
    )  # fmt: skip
    assert rolled.returncode == 0, rolled.stderr
    made = drive_in_process("baseline", "train", "--out", str(baseline), "--steps", "40")
    assert made.returncode == 0, made.stderr
    evaluated = drive_in_process(
        "baseline", "eval", "--policy", str(baseline), "--scenario", "highway-fast",
        "--episodes", "1", "--workers", "1", "--json", str(tmp_path / "baseline.json"),
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    table = drive_in_process(
        "compare", str(tmp_path / "rl.json"), str(tmp_path / "baseline.json"), "--markdown"
    )
    assert table.returncode == 0, table.stderr
    rows = table.stdout.strip().splitlines()
    assert len(rows) == 4 and "collision rate" in rows[0]
    assert str(run / "best") in rows[2] and "DiscreteMetaAction" in rows[3]


def test_baseline_trains_on_the_batched_engine(tmp_path):
    out = tmp_path / "batched"
    trained = drive_in_process(
        "baseline", "train", "--out", str(out), "--steps", "256", "--sim", "batched",
        "--envs", "16",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    card = json.loads((out / "policy.json").read_text())
    assert card["scenario"] == "highway-v0 (sims.batched)" and card["env_steps"] == 256
    wrong = drive_in_process("baseline", "train", "--out", str(out), "--sim", "carla")
    assert wrong.returncode == 2 and "carla" in wrong.stderr


def test_baseline_trains_in_another_roads_environment_in_highway_env_and_on_the_engine(tmp_path):
    out = tmp_path / "merge"
    trained = drive_in_process(
        "baseline", "train", "--out", str(out), "--steps", "40", "--scenario", "merge"
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    card = json.loads((out / "policy.json").read_text())
    assert card["scenario"] == "merge (merge-v0)" and card["env_steps"] == 40
    batched = drive_in_process(
        "baseline", "train", "--out", str(tmp_path / "engine"), "--steps", "64", "--envs", "8",
        "--scenario", "merge", "--sim", "batched",
    )  # fmt: skip
    assert batched.returncode == 0, batched.stderr
    card = json.loads((tmp_path / "engine" / "policy.json").read_text())
    assert card["scenario"] == "merge (merge-v0, sims.batched)" and card["env_steps"] == 64
    refused = drive_in_process(
        "baseline", "train", "--out", str(out), "--scenario", "racetrack", "--sim", "batched"
    )  # fmt: skip
    assert refused.returncode != 0 and "racetrack-v0" in refused.stderr
    assert "Traceback" not in refused.stderr and "steps" not in refused.stdout


def test_bench_sim_writes_the_figures(tmp_path):
    out = tmp_path / "sim.json"
    ran = drive_in_process(
        "bench", "sim", "--json", str(out), "--batches", "1,8", "--fidelity-episodes", "2",
        "--seconds", "0.2", "--workers", "1", "--no-compile",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    document = json.loads(out.read_text())
    assert document["highway_env_steps_per_s"] > 0
    assert [row["batch"] for row in document["batched"] if row["device"] == "cpu"] == [1, 8]
    assert document["fidelity"]["episodes_within_tolerance"] == 2
    assert set(document["fidelity"]["random_policy"]["quantities"]) == {
        "crash_rate", "episode_length_steps", "mean_speed_mps",
    }  # fmt: skip


def test_bench_sim_on_a_road_network(tmp_path):
    out = tmp_path / "intersection.json"
    ran = drive_in_process(
        "bench", "sim", "--env", "intersection-v0", "--json", str(out), "--batches", "1,8",
        "--fidelity-episodes", "2", "--seconds", "0.2",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    document = json.loads(out.read_text())
    assert document["env"] == "intersection-v0" and document["highway_env_steps_per_s"] > 0
    assert [row["batch"] for row in document["batched"] if row["device"] == "cpu"] == [1, 8]
    assert document["fidelity"]["episodes_within_tolerance"] == 2
    wrong = drive_in_process("bench", "sim", "--env", "parking-v0", "--json", str(out))
    assert wrong.returncode == 2 and "parking-v0" in wrong.stderr


def test_dataset_writes_shards_and_resumes(write_scenario, tmp_path):
    scenario = write_scenario(SHORT)
    out = tmp_path / "frames"
    args = ("dataset", "--out", str(out), "--scenario", str(scenario), "--episodes", "2")
    first = drive_in_process(*args, "--episodes-per-shard", "1")
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [entry["seeds"] for entry in manifest["shards"]] == [[0], [1]]
    assert all(entry["samples"] >= 2 for entry in manifest["shards"])
    written = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    again = drive_in_process(*args, "--episodes-per-shard", "1")  # nothing left to do
    assert again.returncode == 0 and "2 shards" in again.stdout, again.stderr
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir()} == written
    other = drive_in_process(*args, "--episodes-per-shard", "2")
    assert other.returncode == 2 and "episodes_per_shard=1" in other.stderr
    assert "Traceback" not in other.stderr


def test_train_perception_trains_on_a_dataset_and_refuses_a_bad_one(write_scenario, tmp_path):
    scenario = write_scenario(SHORT)
    data = tmp_path / "frames"
    made = drive_in_process(
        "dataset", "--out", str(data), "--scenario", str(scenario), "--episodes", "1"
    )
    assert made.returncode == 0, made.stderr
    args = ("train-perception", "--data", str(data), "--validation", str(data))
    trained = drive_in_process(
        *args, "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "8"
    )
    assert trained.returncode == 0, trained.stderr
    assert "epoch   1" in trained.stdout and (tmp_path / "run" / "best.safetensors").exists()
    out = tmp_path / "bench" / "perception.json"
    bench = drive_in_process(
        "bench", "perception", "--weights", str(tmp_path / "run"), "--data", str(data),
        "--json", str(out), "--seconds", "0.05",
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    document = json.loads(out.read_text())
    for key in ("position_mae_m", "velocity_mae_mps", "presence_f1", "frames_per_s_cpu_b256"):
        assert key in document
    assert [row["batch"] for row in document["throughput"] if row["device"] == "cpu"] == [1, 256]
    assert set(document["robustness"]) == {
        "fgsm", "pgd", "noise", "scale", "brightness", "colour-swap",
    }  # fmt: skip
    assert (out.parent / "perception-frame.png").exists()
    assert (out.parent / "perception-robustness.png").exists()
    missing = drive_in_process("train-perception", "--data", str(tmp_path), "--validation",
                               str(data), "--out", str(tmp_path / "other"))  # fmt: skip
    assert missing.returncode == 2 and "manifest.json" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_sigterm_stops_a_rendering_command(write_scenario, tmp_path):
    out = tmp_path / "d"
    process = subprocess.Popen(
        [sys.executable, "-m", "drive.cli", "dataset", "--out", str(out),
         "--scenario", str(write_scenario(SHORT)), "--episodes", "200", "--episodes-per-shard", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # The manifest appears with the first shard: frames have been rendered, so SDL would have
        # caught SIGTERM by now had the command let it.
        started = wait_for(
            lambda: (out / "manifest.json").exists() or process.poll() is not None, timeout_s=300
        )
        assert started and process.poll() is None, "no shard written, or it ended by itself"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == -signal.SIGTERM  # killed by it, not finished
    finally:
        process.kill()
        process.wait()
    assert len(json.loads((out / "manifest.json").read_text())["shards"]) < 200
