"""The suite catches a worse stack: planners with their brakes cut fail the scenarios built for braking."""

from __future__ import annotations

import dataclasses

import pytest

from perception.base import SceneState
from planning.base import Plan
from planning.registry import PLANNERS
from planning.rules import RulePlanner, RulesConfig


class NeverBrakes(RulePlanner):
    """The rule planner with its brakes cut: it never asks for a speed below the current one.

    It follows with plain IDM, as the rules did before the ACC model: MOBIL then weighs IDM's hard
    braking behind a standing car, and the change it makes comes too late for a safe margin.
    """

    def __init__(self) -> None:
        super().__init__(RulesConfig(car_following="idm"))

    def _plan(self, scene: SceneState) -> Plan:
        plan = super()._plan(scene)
        return dataclasses.replace(
            plan, target_speed_mps=max(plan.target_speed_mps, scene.ego.speed_mps)
        )


class NeverBrakesNorSwerves(NeverBrakes):
    """...and it never leaves its lane either."""

    def _plan(self, scene: SceneState) -> Plan:
        plan = super()._plan(scene)
        lane = scene.lane(scene.ego.lane.index)
        assert lane is not None
        return dataclasses.replace(
            plan, target_lane=lane.lane, centreline=lane.centreline, decision="cruise"
        )


@pytest.fixture
def degraded(monkeypatch):
    monkeypatch.setitem(PLANNERS, "never-brakes", NeverBrakes)
    monkeypatch.setitem(PLANNERS, "never-brakes-nor-swerves", NeverBrakesNorSwerves)


@pytest.mark.scenarios
@pytest.mark.parametrize(
    ("planner", "scenario_id", "must_fail"),
    [
        ("never-brakes-nor-swerves", "stalled-vehicle", "no_at_fault_collision"),
        ("never-brakes-nor-swerves", "lead-brake-close", "no_at_fault_collision"),
        ("never-brakes", "stalled-vehicle", "min_ttc_s"),  # it swerves in time, but far too late
        # On lead-brake-close it swerves in time (lane changes take 2.5 s); on lead-brake it does not.
        ("never-brakes", "lead-brake", "keeps_gap_s"),
    ],
)
def test_degraded_planners_fail_with_the_predicate_named(
    degraded, drive_episode, planner, scenario_id, must_fail
):
    # through the plugin's fixture, on the scenario's first seed, with the default stack's other stages
    episode = drive_episode(
        scenario_id, planner=planner, perception="groundtruth", controller="mpc"
    )
    failed = {p.name for p in episode.predicates if not p.passed}
    assert must_fail in failed, f"{planner} on {scenario_id}: failed only {failed}"
    assert drive_episode(scenario_id, planner="rules").passed  # the default stack passes the same
