"""Contract tests: every registered implementation of each stage honours its interface."""

from __future__ import annotations

import math

import pytest

from control.base import Command, Controller
from control.registry import CONTROLLERS, make_controller
from perception.base import Perceiver, SceneState
from perception.registry import PERCEIVERS, make_perceiver
from planning.base import Plan
from planning.registry import PLANNERS, make_planner
from sims.env import SimEnv, SimFrame
from sims.scenario import Scenario
from sims.strict import ConfigError
from tests.helpers import car, highway_scene

SCENARIO = Scenario(
    id="contract",
    description="",
    env="highway-fast-v0",
    duration_s=2.0,
    env_config={"vehicles_count": 10},
)


def rendered_frames(perceiver: Perceiver) -> list[SimFrame]:
    """Six frames of a short episode, rendered as ``perceiver``'s camera sees them (if it has one)."""
    camera = perceiver.camera
    sim = SimEnv(SCENARIO, render=True, view=camera.view() if camera is not None else None)
    try:
        frame = sim.reset(seed=5)
        out = [frame]
        for _ in range(5):
            frame = sim.step(acceleration_mps2=0.0, steering_rad=0.0).frame
            out.append(frame)
    finally:
        sim.close()
    return out


@pytest.mark.parametrize("name", PERCEIVERS)
def test_perceivers_return_a_timed_scene_with_the_ego_lane(name):
    perceiver = make_perceiver(name)
    frames = rendered_frames(perceiver)
    for frame in frames:
        scene = perceiver.perceive(frame)
        assert isinstance(scene, SceneState)
        assert scene.time_s == frame.truth.time_s
        assert scene.lane(scene.ego.lane.index) is not None
    assert perceiver.clock.calls == len(frames)


@pytest.mark.parametrize("name", PLANNERS)
@pytest.mark.parametrize(
    "vehicles",
    [
        (),
        (car(1, 1, 12.0, 10.0),),
        (car(1, 1, 6.0, 0.0), car(2, 0, 0.0, 25.0), car(3, 2, 1.0, 25.0)),
    ],
)
def test_planners_return_a_finite_plan_on_a_perceived_lane(name, vehicles):
    planner = make_planner(name)
    scene = highway_scene(vehicles=vehicles)
    plan = planner.plan(scene)
    assert isinstance(plan, Plan)
    assert math.isfinite(plan.target_speed_mps) and plan.target_speed_mps >= 0
    assert plan.target_lane in [lane.lane for lane in scene.lanes]
    planner.reset()


@pytest.mark.parametrize("name", CONTROLLERS)
def test_controllers_return_commands_within_limits(name):
    controller: Controller = make_controller(name, dt_s=1 / 15)
    scene = highway_scene()
    for lane in scene.lanes:
        for speed in (0.0, 15.0, 40.0):
            plan = Plan(
                target_lane=lane.lane,
                target_speed_mps=speed,
                centreline=lane.centreline,
                decision="cruise",
            )
            command = controller.control(scene.ego, plan)
            assert isinstance(command, Command)
            assert (
                -controller.limits.max_braking_mps2
                <= command.acceleration_mps2
                <= controller.limits.max_acceleration_mps2
            )
            assert abs(command.steering_rad) <= controller.limits.max_steering_rad
    controller.reset()
    assert controller.fallbacks == 0


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (make_perceiver, "perception"),
        (make_planner, "planner"),
        (lambda n: make_controller(n, dt_s=0.1), "controller"),
    ],
)
def test_unknown_names_list_the_valid_ones(make, kind):
    with pytest.raises(ConfigError, match=f"unknown {kind} 'nope'; valid: "):
        make("nope")
