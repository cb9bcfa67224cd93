"""Scenario files: every shipped one loads; every kind of mistake is a one-line error naming file and key."""

from __future__ import annotations

import pytest

from sims.environments import ENVIRONMENTS
from sims.events import CutIn, LeadBrake, StalledVehicle
from sims.scenario import load_scenario, scenario_ids
from sims.strict import ConfigError

VALID = """
description = "test"
env = "highway-fast-v0"
duration_s = 5.0
seeds = [1, 2]

[env_config]
vehicles_count = 5

[[events]]
kind = "lead_brake"
gap_m = 20.0
"""


def test_shipped_scenarios_cover_the_required_environments():
    ids = scenario_ids()
    assert len(ids) >= 10
    envs = {load_scenario(sid).env for sid in ids}
    assert {"highway-v0", "highway-fast-v0", "merge-v0", "roundabout-v0", "intersection-v0"} <= envs
    assert {"exit-v0", "racetrack-v0"} <= envs
    kinds = {type(e) for sid in ids for e in load_scenario(sid).events}
    assert kinds == {CutIn, LeadBrake, StalledVehicle}


@pytest.mark.parametrize("scenario_id", scenario_ids())
def test_every_shipped_scenario_is_valid(scenario_id):
    scenario = load_scenario(scenario_id)
    assert scenario.id == scenario_id
    assert scenario.env in ENVIRONMENTS
    assert scenario.description


def test_valid_file_loads_with_types_converted(write_scenario):
    scenario = load_scenario(write_scenario(VALID))
    assert scenario.id == "custom"
    assert scenario.seeds == (1, 2)
    assert scenario.env_config == {"vehicles_count": 5}
    assert scenario.events == (LeadBrake(gap_m=20.0),)
    assert scenario.dt_s == pytest.approx(1 / 15)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("duration_s = 5.0", "duraton_s = 5.0", "unknown key 'duraton_s'"),
        ("vehicles_count = 5", "vehicle_count = 5", "[env_config]: unknown key 'vehicle_count'"),
        ("gap_m = 20.0", "gap = 20.0", "[events.0]: unknown key 'gap'"),
        ("duration_s = 5.0", 'duration_s = "long"', "key 'duration_s': expected a number"),
        ("vehicles_count = 5", 'vehicles_count = "many"', "key 'vehicles_count': expected int"),
        ('env = "highway-fast-v0"', 'env = "highway-v9"', "unknown env 'highway-v9'"),
        ('kind = "lead_brake"', 'kind = "meteor"', "unknown event kind 'meteor'"),
        ("gap_m = 20.0", "gap_m = -1.0", "gap_m must be > 0"),
        ("vehicles_count = 5", 'action = "x"', "key 'action' is set by the stack"),
        ('description = "test"', "", "missing key 'description'"),
    ],
)
def test_mistakes_name_the_file_and_the_key(write_scenario, replace, by, expected):
    path = write_scenario(VALID.replace(replace, by), name="broken.toml")
    with pytest.raises(ConfigError) as error:
        load_scenario(path)
    message = str(error.value)
    assert message.startswith("broken.toml")
    assert expected in message
    assert "\n" not in message


def test_unknown_key_lists_the_valid_ones(write_scenario):
    with pytest.raises(
        ConfigError, match="valid keys: criteria, description, destination, duration_s"
    ):
        load_scenario(write_scenario("speed = 3\n" + VALID))


def test_unknown_scenario_id_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="unknown scenario 'nowhere'; valid ids: .*highway"):
        load_scenario("nowhere")


def test_invalid_toml_is_a_config_error(write_scenario):
    with pytest.raises(ConfigError, match="broken.toml: not valid TOML"):
        load_scenario(write_scenario("env = ", name="broken.toml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[criteria]\nmin_ttc_s = nan\n", "expected a finite number"),
        ("[env_config]\nvehicles_count = 2.5\n", "expected int"),
        ("[env_config]\nlanes_count = 2.5\n", "expected int"),
        ("seeds = [0, 0]\n", "seeds must be distinct and >= 0"),
        ("seeds = [-1]\n", "seeds must be distinct and >= 0"),
        ("[criteria]\nreaches_destination = true\n", "needs a 'destination'"),
    ],
)
def test_values_that_would_mislead_are_rejected(write_scenario, text, expected):
    base = 'description = "t"\nenv = "highway-fast-v0"\nduration_s = 5.0\n'
    document = base + text
    with pytest.raises(ConfigError, match=expected):
        load_scenario(write_scenario(document, name="bad.toml"))


def test_an_event_the_road_cannot_host_is_a_config_error():
    from sims.env import SimEnv
    from sims.events import CutIn
    from sims.scenario import Scenario

    one_lane = Scenario(
        id="narrow",
        description="",
        env="highway-v0",
        duration_s=1.0,
        env_config={"lanes_count": 1, "vehicles_count": 1},
        events=(CutIn(),),
    )
    with pytest.raises(
        ConfigError,
        match="scenario 'narrow' seed 0: cut_in: the ego's lane .* has no left neighbour",
    ):
        SimEnv(one_lane).reset(seed=0)
