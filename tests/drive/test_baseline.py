"""highway-env's documented baseline acts in each road as that road's documentation has it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drive.training.baseline import batched_meta_env, check_batched, meta_action_env
from sims.scenario import load_scenario
from sims.strict import ConfigError


def test_each_road_keeps_its_own_meta_actions_and_observation() -> None:
    roundabout = meta_action_env(load_scenario("roundabout"))
    assert roundabout.config["action"]["target_speeds"] == [0, 8, 16]
    assert roundabout.config["observation"]["absolute"] is True
    intersection = meta_action_env(load_scenario("intersection"))
    assert intersection.config["action"]["lateral"] is False
    assert intersection.config["observation"]["vehicles_count"] == 15
    highway = meta_action_env(load_scenario("highway"))
    assert highway.config["action"] == {"type": "DiscreteMetaAction"}
    assert highway.config["observation"] == {"type": "Kinematics"}
    for env in (roundabout, intersection, highway):
        env.close()
    # highway-env documents the racetrack with continuous steering, and cannot make its ego
    # under meta-actions: refused by name.
    with pytest.raises(ConfigError, match="racetrack-v0 with ContinuousAction"):
        meta_action_env(load_scenario("racetrack"))


@pytest.mark.parametrize("road", ["merge", "exit", "roundabout", "intersection"])
def test_the_engine_gives_the_baseline_the_same_road_as_highway_env(road: str) -> None:
    scenario = load_scenario(road)
    reference = meta_action_env(scenario)
    engine = batched_meta_env(scenario, 2, seed=0)
    assert engine.observation_space.shape == reference.observation_space.shape
    assert engine.action_space == reference.action_space
    config = engine.engine.config
    assert (config.simulation_hz, config.policy_hz) == (scenario.simulation_hz, 1)
    assert config.max_steps == int(scenario.duration_s)
    assert config.meta_actions == tuple(reference.unwrapped.action_type.actions.values())
    assert engine.engine.env_config.get("destination") == reference.unwrapped.config.get(
        "destination"
    )
    reference.close()


def test_what_the_engine_cannot_honour_is_refused_by_name() -> None:
    merge = load_scenario("merge")
    unread = replace(merge, env_config={"lane_change_reward": -0.1})
    with pytest.raises(ConfigError, match="scenario 'merge': env_config key 'lane_change_reward'"):
        batched_meta_env(unread, 2, seed=0)
    scripted = load_scenario("cut-in")
    check_batched(scripted)  # a highway scenario trains on the highway's engine, as before
    with pytest.raises(ConfigError, match="scripts events on highway-v0 only, not on merge-v0"):
        check_batched(replace(scripted, env="merge-v0"))
    with pytest.raises(ConfigError, match="racetrack-v0 with a continuous ego only, not a meta"):
        check_batched(load_scenario("racetrack"))
    with pytest.raises(ConfigError, match="no task for u-turn-v0"):
        check_batched(load_scenario("u-turn"))
