"""Standard control manoeuvres on highway-env, for benchmarks and closed-loop controller tests.

Each manoeuvre fixes the ego's start speed, what the plan asks and when, and whether a stalled car
stands ahead; the controller under test closes the loop through highway-env's ``ContinuousAction``.
The lateral error is measured against the same reference every controller is given: the target
lane's centreline, eased by :class:`control.reference.LaneChangeReference` after a lane switch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from control.reference import LaneChangeReference
from control.registry import make_controller
from drive.episode.trajectory import derivative, lateral_acceleration
from perception.ground_truth_perceiver import GroundTruthPerceiver
from planning.base import Plan
from planning.rules import RulePlanner
from sims.env import SimEnv
from sims.events import StalledVehicle
from sims.frenet import to_frenet
from sims.plants import DEFAULT_PLANT
from sims.scenario import Scenario

START_LANE = 1  # the ego starts in lane 1 of 2 and changes to lane 0 (left)
SETTLED_M = 0.1  # [m] "settled" means within this of the target centreline for good


@dataclass(frozen=True)
class Manoeuvre:
    """A scripted test of a controller."""

    initial_speed_mps: float
    duration_s: float
    target_speed_mps: float
    lane_change_at_s: float | None = None  # the plan switches to the left lane at this time
    speed_step_at_s: float | None = (
        None  # the target speed applies from this time (before: initial)
    )
    stalled_gap_m: float | None = None  # a stalled car this far ahead; the rule planner sets speeds


MANOEUVRES: dict[str, Manoeuvre] = {
    "lane_keep_30": Manoeuvre(initial_speed_mps=30.0, duration_s=60.0, target_speed_mps=30.0),
    "lane_change_25": Manoeuvre(
        initial_speed_mps=25.0, duration_s=10.0, target_speed_mps=25.0, lane_change_at_s=1.0
    ),
    "lane_change_30": Manoeuvre(
        initial_speed_mps=30.0, duration_s=10.0, target_speed_mps=30.0, lane_change_at_s=1.0
    ),
    "speed_step": Manoeuvre(
        initial_speed_mps=20.0, duration_s=15.0, target_speed_mps=30.0, speed_step_at_s=1.0
    ),
    "stop_behind_stalled": Manoeuvre(
        initial_speed_mps=25.0, duration_s=20.0, target_speed_mps=25.0, stalled_gap_m=100.0
    ),
}


@dataclass(frozen=True, eq=False)
class ManoeuvreRun:
    """One controller's run of one manoeuvre, step by step."""

    dt_s: float
    time_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    speed_mps: np.ndarray
    heading_rad: np.ndarray
    lateral_error_m: np.ndarray  # from the eased reference
    offset_from_target_m: np.ndarray  # from the target lane's centreline
    solve_ms: np.ndarray
    collided: bool
    lane_change_at_s: float | None


def run_manoeuvre(
    manoeuvre: Manoeuvre, controller_name: str, *, seed: int = 0, plant: str = DEFAULT_PLANT
) -> ManoeuvreRun:
    """Drive ``manoeuvre`` with the registered controller ``controller_name`` on an empty road.

    :param manoeuvre: what to drive.
    :param controller_name: a registered controller.
    :param seed: the episode's seed.
    :param plant: the car driven, a name of :data:`sims.plants.PLANTS`.
    """
    lanes = 1 if manoeuvre.stalled_gap_m is not None else 2
    scenario = Scenario(
        id="manoeuvre",
        description="control manoeuvre",
        env="highway-v0",
        duration_s=manoeuvre.duration_s,
        env_config={"vehicles_count": 0, "lanes_count": lanes, "initial_lane_id": lanes - 1},
        events=(StalledVehicle(gap_m=manoeuvre.stalled_gap_m),) if manoeuvre.stalled_gap_m else (),
        plant=plant,
    )
    sim = SimEnv(scenario)
    frame = sim.reset(seed=seed, ego_speed_mps=manoeuvre.initial_speed_mps)
    controller = make_controller(controller_name, dt_s=sim.dt_s, plant=plant)
    planner, perceiver = RulePlanner(), GroundTruthPerceiver()
    reference = LaneChangeReference()
    start = frame.truth.ego
    # The ego cruised at its initial speed before the manoeuvre: two rows of that state make the
    # first command's change of acceleration count in the jerk.
    rows = [
        (t, start.x_m, start.y_m, start.speed_mps, start.heading_rad, 0.0, 0.0)
        for t in (-sim.dt_s, 0.0)
    ]
    solve_ms: list[float] = []
    while True:
        time_s = frame.truth.time_s
        plan = _plan(manoeuvre, perceiver.perceive(frame), planner, time_s)
        ego = frame.truth.ego
        started = time.perf_counter()
        command = controller.control(ego, plan)
        solve_ms.append(1000.0 * (time.perf_counter() - started))
        step = sim.step(
            acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
        )
        frame = step.frame
        after = frame.truth.ego
        _, offset = to_frenet(plan.centreline, np.array(after.x_m), np.array(after.y_m))
        reference.update(plan.target_lane, float(offset), time_s)
        error = float(offset) - float(reference.offset_m(frame.truth.time_s))
        rows.append(
            (
                frame.truth.time_s,
                after.x_m,
                after.y_m,
                after.speed_mps,
                after.heading_rad,
                error,
                float(offset),
            )
        )
        if step.terminated or step.truncated:
            break
    columns = np.array(rows).T
    return ManoeuvreRun(
        dt_s=sim.dt_s,
        time_s=columns[0],
        x_m=columns[1],
        y_m=columns[2],
        speed_mps=columns[3],
        heading_rad=columns[4],
        lateral_error_m=columns[5],
        offset_from_target_m=columns[6],
        solve_ms=np.array(solve_ms),
        collided=bool(frame.truth.ego.crashed),
        lane_change_at_s=manoeuvre.lane_change_at_s,
    )


def _plan(manoeuvre: Manoeuvre, scene, planner: RulePlanner, time_s: float) -> Plan:
    """The manoeuvre's scripted plan (or the rule planner's speed, behind a stalled car)."""
    index = scene.ego.lane.index
    if manoeuvre.lane_change_at_s is not None:
        index = START_LANE - 1 if time_s >= manoeuvre.lane_change_at_s else START_LANE
    lane = scene.lane(index) or scene.lane(scene.ego.lane.index)
    assert lane is not None
    speed = manoeuvre.target_speed_mps
    if manoeuvre.speed_step_at_s is not None and time_s < manoeuvre.speed_step_at_s:
        speed = manoeuvre.initial_speed_mps
    if manoeuvre.stalled_gap_m is not None:
        speed = planner.plan(scene).target_speed_mps
    return Plan(
        target_lane=lane.lane, target_speed_mps=speed, centreline=lane.centreline, decision="cruise"
    )


def manoeuvre_metrics(run: ManoeuvreRun) -> dict[str, float | bool]:
    """Tracking and comfort figures of a run (see :mod:`drive.bench.bench_control` for their meaning)."""
    acceleration = derivative(run.speed_mps, run.dt_s)
    jerk = derivative(acceleration, run.dt_s)
    lateral = lateral_acceleration(run.speed_mps, run.heading_rad, run.dt_s)
    overshoot, settle = 0.0, 0.0
    if run.lane_change_at_s is not None:
        after = run.time_s >= run.lane_change_at_s
        offsets = run.offset_from_target_m[after]
        # The ego comes from the right (positive offsets); overshoot is how far it goes past zero.
        overshoot = float(max(0.0, -np.min(offsets)))
        outside = np.nonzero(np.abs(offsets) >= SETTLED_M)[0]
        settle = float((outside[-1] + 1) * run.dt_s) if len(outside) else 0.0
    return {
        "max_abs_lateral_error_m": round(float(np.max(np.abs(run.lateral_error_m))), 4),
        "rms_lateral_error_m": round(float(np.sqrt(np.mean(run.lateral_error_m**2))), 4),
        "overshoot_m": round(overshoot, 4),
        "settle_time_s": round(settle, 3),
        "peak_abs_acceleration_mps2": round(float(np.max(np.abs(acceleration))), 3),
        "peak_abs_jerk_mps3": round(float(np.max(np.abs(jerk))), 3),
        "peak_abs_lateral_acceleration_mps2": round(float(np.max(np.abs(lateral))), 3),
        "peak_abs_yaw_rate_radps": round(
            float(np.max(np.abs(derivative(np.unwrap(run.heading_rad), run.dt_s)))), 4
        ),
        "final_speed_mps": round(float(run.speed_mps[-1]), 3),
        "collided": run.collided,
    }
