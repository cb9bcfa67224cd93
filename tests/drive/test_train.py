"""Smoke runs of training: each algorithm for tens to hundreds of steps, then reload and resume."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from drive.cli import app
from drive.training.train_config import TrainConfig
from drive.training.train_planner import Run, train
from planning.registry import make_planner
from planning.rl.checkpoint import load_policy
from planning.rl.executor import ExecutorConfig, SafetyMargins
from planning.rl.planner import SHIPPED_POLICY
from sims.batched.physics import EgoFollowing
from sims.strict import ConfigError
from tests.helpers import StreamLines, highway_scene, wait_for


def _config(algo: str, steps: int) -> TrainConfig:
    return TrainConfig(
        scenario="highway-fast",
        algo=algo,
        extractor="attention" if algo == "dqn" else "mlp",
        steps=steps,
        envs=1,
        device="cpu",
        eval_every=10_000,
        eval_episodes=1,
        checkpoint_every=64,
    )


@pytest.mark.parametrize("algo", ["dqn", "qrdqn", "ppo"])
def test_training_saves_a_policy_that_reloads_and_plans(algo, tmp_path):
    # 64 decisions: DQN's learning starts after 16 of them, PPO's first rollout is all 64
    state = train(_config(algo, 64), tmp_path, resume=False, command="test")
    run = Run(tmp_path)
    assert [point["steps"] for point in state.curve] == [64]
    assert run.curve_png.stat().st_size > 0
    model, card = load_policy(tmp_path / "best")
    assert card.algo == algo and card.env_steps == 64
    assert model.num_timesteps == 64
    planner = make_planner(str(tmp_path / "best"))  # --planner PATH
    assert planner.card.algo == algo


# Thin margins, with the braking bound lifted: the card must carry an infinite bound through JSON.
THIN = SafetyMargins(
    5.0,
    4.0,
    math.inf,
    far_lane_check=False,
    far_lane_clearance_m=10.0,
    wait_for_gap=True,
    cut_in_check=True,
)


@pytest.mark.parametrize("algo", ["dqn", "qrdqn", "ppo"])
def test_training_on_the_batched_engine_validates_there_and_resumes(algo, tmp_path):
    config = TrainConfig(
        algo=algo,
        extractor="attention",
        steps=256,
        envs=32,
        sim="batched",
        device="cpu",
        eval_every=256,  # each validation drives 40 s episodes: once here, once after resuming
        eval_episodes=8,
        checkpoint_every=128,
        car_following="idm_plus",
        time_gap_s=1.0,
        safety_layer=True,
        margins=THIN,
    )
    state = train(config, tmp_path, resume=False, command="test")
    assert [point["steps"] for point in state.curve] == [256]
    longer = TrainConfig(**{**config.__dict__, "steps": 512})
    state = train(longer, tmp_path, resume=True, command="test")
    assert [point["steps"] for point in state.curve] == [256, 512]
    assert all(0 <= point["collision_rate"] <= 1 for point in state.curve)
    assert all(15 < point["speed_mps"] < 31 for point in state.curve)
    planner = make_planner(str(tmp_path / "best"))  # plugs into the stack like any checkpoint
    assert planner.card.algo == algo
    # and is executed as it was trained: IDM+ at 1.0 s and the thin margins, from its card
    assert planner.executor.executor_config == ExecutorConfig("idm_plus", 1.0, THIN)
    assert planner.executor.config.car_following == "idm_plus"
    assert planner.executor.config.idm.time_gap_s == 1.0
    assert planner.executor.config.max_imposed_braking_mps2 == math.inf
    # the card is strict JSON: no bound is null, not Infinity
    text = (tmp_path / "best" / "policy.json").read_text()
    card = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the card"))
    assert card["safety_margins"]["max_imposed_braking_mps2"] is None


def test_a_card_older_than_a_margin_means_its_default(tmp_path):
    shutil.copytree(SHIPPED_POLICY, tmp_path / "policy")
    card = tmp_path / "policy" / "policy.json"
    fields = json.loads(card.read_text())
    for name in ("far_lane_clearance_m", "wait_for_gap", "cut_in_check"):
        fields["safety_margins"].pop(name)
    fields.pop("added_after_training")
    card.write_text(json.dumps(fields))
    margins = make_planner(str(tmp_path / "policy")).executor.executor_config.margins
    assert margins.far_lane_clearance_m == 20.0 and not margins.wait_for_gap
    assert not margins.cut_in_check


def test_a_card_without_margins_means_the_rule_planners(tmp_path):
    shutil.copytree(SHIPPED_POLICY, tmp_path / "policy")
    card = tmp_path / "policy" / "policy.json"
    fields = json.loads(card.read_text())
    fields.pop("safety_margins", None)
    fields.pop("added_after_training", None)
    card.write_text(json.dumps(fields))
    assert (
        make_planner(str(tmp_path / "policy")).executor.executor_config.margins == SafetyMargins()
    )
    card.write_text(json.dumps({**fields, "safety_margins": {"min_gap_m": 3.0}}))
    with pytest.raises(ConfigError, match="policy.json.*min_gap_m"):
        make_planner(str(tmp_path / "policy"))


def test_a_card_names_only_its_own_margins_as_added_after_training(tmp_path):
    shutil.copytree(SHIPPED_POLICY, tmp_path / "policy")
    card = tmp_path / "policy" / "policy.json"
    fields = json.loads(card.read_text())
    assert fields["added_after_training"] == ["cut_in_check"]  # the shipped default's, see README
    for name in ("cut_in_chek", "min_front_gap_m"):  # misspelt; a gap, not a check
        card.write_text(json.dumps({**fields, "added_after_training": [name]}))
        with pytest.raises(ConfigError, match=f"policy.json.*'{name}'"):
            make_planner(str(tmp_path / "policy"))


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-imposed-braking", "0", "max_imposed_braking_mps2 must be positive"),
        ("--far-lane-clearance", "-1", "far_lane_clearance_m must be at least 0"),
    ],
)
def test_drive_train_refuses_a_bad_margin_by_name(flag, value, message, tmp_path):
    arguments = ["train", "--out", str(tmp_path / "run"), flag, value]
    result = CliRunner().invoke(app, arguments)
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)
    assert not (tmp_path / "run").exists()


def test_an_unknown_car_following_model_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="'gipps'"):
        TrainConfig(car_following="gipps")
    with pytest.raises(ConfigError, match="positive"):
        TrainConfig(time_gap_s=0.0)
    shutil.copytree(SHIPPED_POLICY, tmp_path / "policy")
    card = tmp_path / "policy" / "policy.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "car_following": "gipps"}))
    with pytest.raises(ConfigError, match="policy.json.*gipps"):
        make_planner(str(tmp_path / "policy"))


def test_the_batched_engine_refuses_the_acc_models_by_name():
    TrainConfig(car_following="idm_acc")  # highway-env's executor drives it
    for sim_interface in ({"interface": "highway", "scenario": "highway"}, {"interface": "road"}):
        with pytest.raises(ConfigError, match="not --car-following idm_plus_acc"):
            TrainConfig(sim="batched", car_following="idm_plus_acc", **sim_interface)
    with pytest.raises(ValueError, match="not 'idm_acc'"):
        EgoFollowing(car_following="idm_acc")


def test_an_unknown_algorithm_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="'sac'; valid: dqn, qrdqn, ppo"):
        TrainConfig(algo="sac")
    shutil.copytree(SHIPPED_POLICY, tmp_path / "policy")
    card = tmp_path / "policy" / "policy.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "algo": "sac"}))
    with pytest.raises(ConfigError, match="policy.json: unknown algo 'sac'; valid: dqn, qrdqn"):
        make_planner(str(tmp_path / "policy"))


def test_batched_training_refuses_what_the_engine_cannot_train_by_name():
    with pytest.raises(ConfigError, match="highway interface on the highway scenario only"):
        TrainConfig(scenario="merge", sim="batched")
    road = {"sim": "batched", "interface": "road", "envs": 4}
    with pytest.raises(ConfigError, match="racetrack-v0 with a continuous ego only, not a follow"):
        TrainConfig(scenario="merge,racetrack", **road)
    with pytest.raises(ConfigError, match="no task for u-turn-v0"):
        TrainConfig(scenario="merge,u-turn", **road)
    with pytest.raises(ConfigError, match="no task for highway-fast-v0"):
        TrainConfig(scenario="highway-fast,merge", **road)
    with pytest.raises(ConfigError, match="does not script cut_in events"):
        TrainConfig(scenario="highway,cut-in", **road)
    TrainConfig(scenario="highway,lead-brake", **road)  # the engine scripts a braking lead
    TrainConfig(scenario="highway,merge", **road)  # highway-v0 has a road-network task
    with pytest.raises(ConfigError, match="no safety layer for the road interface"):
        TrainConfig(scenario="merge", safety_layer=True, **road)
    with pytest.raises(ConfigError, match="--envs 4 does not split evenly over the 3 roads"):
        TrainConfig(scenario="merge,exit,roundabout", **road)
    with pytest.raises(ConfigError, match="has no stopping check"):
        TrainConfig(sim="batched", safety_layer=True, margins=SafetyMargins(stopping_check=True))


def test_road_training_on_the_batched_engine_validates_each_road_there_and_reloads(tmp_path):
    config = TrainConfig(
        scenario="stalled-vehicle,intersection",  # a scripted event, and a junction
        interface="road",
        sim="batched",
        lateral_acceleration_mps2=4.0,
        steps=256,
        envs=16,
        device="cpu",
        eval_every=256,
        eval_episodes=4,
        checkpoint_every=128,
    )
    state = train(config, tmp_path, resume=False, command="test")
    point = state.curve[-1]
    assert point["steps"] == 256
    for road in ("stalled-vehicle", "intersection"):
        assert 0 <= point[f"{road}/collision_rate"] <= 1 and point[f"{road}/speed_mps"] > 0
    model, card = load_policy(tmp_path / "best")
    assert (
        card.scenario == "stalled-vehicle,intersection (sims.batched)" and card.interface == "road"
    )
    assert model.observation_space.shape == (11, 10) and model.action_space.n == 18
    planner = make_planner(str(tmp_path / "best"))  # drives the stack like any road policy
    assert planner.plan(highway_scene()).target_speed_mps > 0


def test_resume_continues_where_the_run_stopped(tmp_path):
    train(_config("dqn", 32), tmp_path, resume=False, command="test")
    with pytest.raises(ConfigError, match="already holds"):
        train(_config("dqn", 32), tmp_path, resume=False, command="test")
    other_gap = replace(_config("dqn", 64), time_gap_s=1.0)
    with pytest.raises(ConfigError, match="resume it with the same car following"):
        train(other_gap, tmp_path, resume=True, command="test")
    state = train(_config("dqn", 64), tmp_path, resume=True, command="test")
    assert [point["steps"] for point in state.curve] == [32, 64]
    model, _ = load_policy(Run(tmp_path).last)
    assert model.num_timesteps == 64
    saved = json.loads(Run(tmp_path).state.read_text())
    assert saved["train_wall_s"] >= state.curve[0]["wall_s"]


def _tensorboard_bytes(out) -> int:
    return sum(path.stat().st_size for path in (out / "tensorboard").rglob("events.out.*"))


def test_ctrl_c_stops_between_steps_and_saves_the_last_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "drive.cli", "train", "--scenario", "highway-fast", "--out", str(out),
        "--steps", "100000", "--envs", "2", "--eval-every", "100000", "--device", "cpu",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    stderr = StreamLines(process.stderr)  # read as it comes: a full pipe would stall the child
    try:
        # Training has started when its TensorBoard log appears, and is well under way, the
        # workers busy, when the log grows: SB3 writes it every 4 finished episodes.
        def running() -> bool:
            return process.poll() is not None or _tensorboard_bytes(out) > 0

        assert wait_for(running, timeout_s=300), stderr.text(timeout_s=1)
        assert process.poll() is None, stderr.text(timeout_s=1)
        started = _tensorboard_bytes(out)
        grown = wait_for(
            lambda: process.poll() is not None or _tensorboard_bytes(out) > started,
            timeout_s=300,
        )
        assert grown and process.poll() is None, stderr.text(timeout_s=1)
        # No checkpoint yet (the first is 1000 steps away): the one found below is the Ctrl-C's.
        assert not (out / "last").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 130
    finally:
        process.kill()
        process.wait()
    assert "--resume continues" in " ".join(stderr.text().split())
    assert (out / "last" / "policy.zip").exists() and (out / "state.json").exists()
    card = json.loads((out / "last" / "policy.json").read_text())
    assert 0 < card["env_steps"] < 1000  # stopped between steps, before any checkpoint


# Out of the quick tier: a smoke run, but on roads whose decisions cost tens of milliseconds each.
@pytest.mark.scenarios
def test_training_on_two_roads_validates_on_each_and_reloads_with_its_interface(tmp_path):
    config = TrainConfig(
        scenario="merge,roundabout",
        interface="road",
        lateral_acceleration_mps2=4.0,
        algo="dqn",
        steps=200,
        envs=1,
        device="cpu",
        eval_every=10_000,
        eval_episodes=1,
        checkpoint_every=200,
    )
    state = train(config, tmp_path, resume=False, command="test")
    point = state.curve[-1]
    assert point["steps"] == 200
    for road in ("merge", "roundabout"):
        assert {f"{road}/return", f"{road}/collision_rate", f"{road}/speed_mps"} <= set(point)
    mean = (point["merge/speed_mps"] + point["roundabout/speed_mps"]) / 2
    assert point["speed_mps"] == pytest.approx(mean)
    model, card = load_policy(tmp_path / "best")
    assert (card.interface, card.lateral_acceleration_mps2) == ("road", 4.0)
    assert model.observation_space.shape == (11, 10) and model.action_space.n == 18
    planner = make_planner(str(tmp_path / "best"))
    assert planner.interface.name == "road"
    assert planner.executor.config.comfort_lateral_acceleration_mps2 == 4.0
    assert planner.plan(highway_scene()).target_speed_mps > 0


def test_an_unknown_interface_or_an_empty_road_is_refused_by_name():
    with pytest.raises(ConfigError, match="unknown interface 'roads'"):
        TrainConfig(interface="roads")
    with pytest.raises(ConfigError, match="empty name"):
        TrainConfig(scenario="merge,,roundabout")
    with pytest.raises(ConfigError, match="no task for highway-fast-v0"):
        TrainConfig(sim="batched", interface="road", scenario="highway-fast", envs=4)
