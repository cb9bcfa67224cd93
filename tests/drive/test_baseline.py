"""highway-env's documented baseline acts in each road as that road's documentation has it."""

from __future__ import annotations

import pytest

from drive.training.baseline import meta_action_env
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
