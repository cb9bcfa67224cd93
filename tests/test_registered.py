"""Planners, perceivers and controllers that installed packages register through entry points
(``drive_stack.planners`` and the like) are taken by name wherever a built-in one is.

The entry points here are real ``importlib.metadata.EntryPoint`` objects naming classes of this
module, handed out in place of the installed distributions' own; the test that installs the
example project for real is ``tests/test_example_project.py``.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import sims.registered
from control.base import Command, Controller
from control.registry import controller_names, make_controller
from perception.base import SceneState
from perception.ground_truth_perceiver import GroundTruthPerceiver
from perception.registry import make_perceiver, perceiver_names
from planning.base import Plan
from planning.registry import make_planner, planner_names
from planning.rules import RulePlanner
from sims.groundtruth import EgoState
from sims.strict import ConfigError
from tests.helpers import drive_in_process


class SlowRules(RulePlanner):
    """The rule planner, never planning faster than 20 m/s."""

    def _plan(self, scene: SceneState) -> Plan:
        plan = super()._plan(scene)
        return Plan(
            plan.target_lane, min(plan.target_speed_mps, 20.0), plan.centreline, plan.decision
        )


class NotAPlanner:
    """Registered as a planner by mistake."""


class CoastingController(Controller):
    """Neither accelerates nor steers."""

    def __init__(self, *, dt_s: float) -> None:
        super().__init__(dt_s=dt_s)

    def _control(self, ego: EgoState, plan: Plan) -> Command:
        return Command(acceleration_mps2=0.0, steering_rad=0.0)


class _Distribution:
    def __init__(self, name: str) -> None:
        self.name = name


def _entry(name: str, value: str, group: str, distribution: str) -> EntryPoint:
    return EntryPoint(name, value, group)._for(_Distribution(distribution))  # type: ignore[arg-type]


@pytest.fixture
def installed(monkeypatch):
    """Pretend distributions register the given entry points: ``installed([(group, name, value, dist)])``."""

    def install(entries: list[tuple[str, str, str, str]]) -> None:
        def entry_points(*, group: str) -> list[EntryPoint]:
            return [_entry(n, v, g, d) for g, n, v, d in entries if g == group]

        monkeypatch.setattr(sims.registered, "entry_points", entry_points)

    return install


def test_a_registered_planner_is_built_by_name_and_listed(installed):
    installed([("drive_stack.planners", "slow", "tests.test_registered:SlowRules", "slow-dist")])
    assert isinstance(make_planner("slow"), SlowRules)
    assert planner_names()[-1] == "slow"
    with pytest.raises(ConfigError) as refused:
        make_planner("nope")
    assert str(refused.value) == (
        "unknown planner 'nope'; valid: rules, rules-idm-plus, rules-bold, default, "
        "default-unguarded, polite, road, road-unguarded, road-engine, road-engine-unguarded, "
        "road-bold, road-bold-unguarded, road-all, road-all-unguarded, slow (from slow-dist), or the path of a trained policy "
        "(unguarded:PATH: without its safety layer)"
    )


def test_registered_perceivers_and_controllers_too(installed):
    installed(
        [
            (
                "drive_stack.perceivers",
                "truth",
                "perception.ground_truth_perceiver:GroundTruthPerceiver",
                "p",
            ),
            ("drive_stack.controllers", "coast", "tests.test_registered:CoastingController", "c"),
        ]
    )
    assert isinstance(make_perceiver("truth"), GroundTruthPerceiver)
    controller = make_controller("coast", dt_s=0.1)
    assert isinstance(controller, CoastingController) and controller.dt_s == 0.1
    assert perceiver_names() == [
        "groundtruth",
        "cnn",
        "cnn-untracked",
        "cnn-highway",
        "camera-oracle",
        "truth",
    ]
    assert controller_names() == [
        "tracker",
        "mpc",
        "mpc-comfort",
        "builtin",
        "mpc-learned",
        "coast",
    ]
    with pytest.raises(
        ConfigError,
        match=r"valid: tracker, mpc, mpc-comfort, builtin, mpc-learned, coast \(from c\)$",
    ):
        make_controller("nope", dt_s=0.1)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [("drive_stack.planners", "rules", "tests.test_registered:SlowRules", "d")],
            "d registers a planner named 'rules' (entry point group drive_stack.planners), the "
            "name of a built-in planner; rename it in its pyproject.toml",
        ),
        (
            [
                ("drive_stack.planners", "slow", "tests.test_registered:SlowRules", "one"),
                ("drive_stack.planners", "slow", "tests.test_registered:NotAPlanner", "two"),
            ],
            "two distributions register a planner named 'slow' (entry point group "
            "drive_stack.planners): one and two; uninstall or rename one",
        ),
        (
            [("drive_stack.planners", "slow", "tests.test_registered:NotAPlanner", "d")],
            "planner 'slow' (tests.test_registered:NotAPlanner, registered by d) is not a "
            "subclass of planning.base.Planner",
        ),
        (
            [("drive_stack.planners", "slow", "no_such_module_here:Planner", "d")],
            "planner 'slow' (no_such_module_here:Planner, registered by d) cannot be imported: "
            "ModuleNotFoundError: No module named 'no_such_module_here'",
        ),
    ],
    ids=["clashes-with-built-in", "registered-twice", "not-a-planner", "cannot-import"],
)
def test_a_bad_registration_is_refused_with_one_line(installed, entries, message):
    installed(entries)
    with pytest.raises(ConfigError) as refused:
        make_planner("slow")
    assert str(refused.value) == message


def test_a_broken_registration_does_not_stop_the_built_in_names(installed):
    installed([("drive_stack.planners", "slow", "no_such_module_here:Planner", "d")])
    assert isinstance(make_planner("rules"), RulePlanner)


@pytest.mark.smoke
def test_the_command_line_drives_a_registered_planner(installed, write_scenario):
    installed([("drive_stack.planners", "slow", "tests.test_registered:SlowRules", "slow-dist")])
    scenario = write_scenario(
        'description = "short"\nenv = "highway-fast-v0"\nduration_s = 3.0\n'
        "[env_config]\nvehicles_count = 5\n"
    )
    result = drive_in_process("rollout", "--scenario", str(scenario), "--planner", "slow")
    assert result.returncode == 0, result.stderr
    assert "planner=slow" in result.stdout
    unknown = drive_in_process("rollout", "--scenario", str(scenario), "--planner", "slower")
    assert unknown.returncode == 2
    assert "valid: rules" in unknown.stderr and "slow (from slow-dist)" in unknown.stderr


def test_a_policy_path_loads_with_or_without_its_safety_layer():
    from planning.registry import planner_files
    from planning.rl.planner import ROAD_BOLD_POLICY

    guarded = make_planner(str(ROAD_BOLD_POLICY))
    unguarded = make_planner(f"unguarded:{ROAD_BOLD_POLICY}")
    assert guarded.executor.safety_layer and not unguarded.executor.safety_layer
    assert planner_files(f"unguarded:{ROAD_BOLD_POLICY}") == planner_files("road-bold-unguarded")
    with pytest.raises(ConfigError, match="unguarded:PATH"):
        make_planner("unguarded:no/such/policy")
