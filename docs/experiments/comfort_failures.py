"""Where the regression suite's episodes fail nuPlan's comfort test: for every episode of a stack,
the first filtered sample past each bound, with the time, the speed and the plan's target then.

    .venv/bin/python docs/experiments/comfort_failures.py [--planner rules] [--controller mpc]
        [--json F]

Prints one line per episode (scenario, seed, score, comfortable, then per failed bound: the bound,
its first time [s], how many samples fail, the speed and the planned speed there [m/s], the
decision) and a count of the uncomfortable episodes by scenario, first failed bound and whether it
came in the first 1.5 s. Both workers of this 2-core machine, about 5 minutes.
"""

from __future__ import annotations

import argparse
import collections
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from drive.episode import scoring
from drive.episode.loop import ClosedLoop
from drive.episode.record import Recorder
from drive.episode.stack import Stack, StackSpec
from sims.files import write_json
from sims.provenance import provenance
from sims.scenario import load_scenario
from sims.suite import load_suite

START_S = 1.5  # [s] a failure before this is counted as the episode's start


def failures(series: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per comfort bound, where the filtered signal is past it (NaN samples are not)."""
    bounds = scoring.COMFORT_BOUNDS
    acceleration = series["longitudinal_acceleration_mps2"]
    checks = {
        "braking": acceleration < bounds["min_longitudinal_acceleration_mps2"],
        "acceleration": acceleration > bounds["max_longitudinal_acceleration_mps2"],
        "jerk": np.abs(series["longitudinal_jerk_mps3"]) > bounds["max_abs_longitudinal_jerk_mps3"],
        "lateral": np.abs(series["lateral_acceleration_mps2"])
        > bounds["max_abs_lateral_acceleration_mps2"],
        "yaw_rate": np.abs(series["yaw_rate_radps"]) > bounds["max_abs_yaw_rate_radps"],
        "yaw_acceleration": np.abs(series["yaw_acceleration_radps2"])
        > bounds["max_abs_yaw_acceleration_radps2"],
    }
    return {name: np.nan_to_num(bad, nan=0.0).astype(bool) for name, bad in checks.items()}


def episode(job: tuple[str, StackSpec, int]) -> dict[str, Any]:
    """One episode's score, comfort verdict and first failures."""
    scenario_id, spec, seed = job
    scenario = load_scenario(scenario_id)
    stack = Stack.build(spec, dt_s=scenario.dt_s, plant=scenario.plant)
    loop = ClosedLoop(scenario, stack)
    loop.reset(seed=seed)
    recorder = Recorder(dt_s=loop.sim.dt_s, route_edges=loop.sim.route_edges)
    targets, decisions = [], []
    for step in loop.steps():
        recorder.record(step.sim, step.plan)
        targets.append(step.plan.target_speed_mps)
        decisions.append(step.plan.decision)
    trajectory = recorder.trajectory(controller_fallbacks=0)
    series = scoring.comfort_series(scoring.until_crash(trajectory))
    found = []
    for name, bad in (failures(series) if series is not None else {}).items():
        index = np.nonzero(bad)[0]
        if len(index):
            first = int(index[0])
            found.append(
                {
                    "bound": name,
                    "time_s": round(first * trajectory.dt_s, 2),
                    "samples": len(index),
                    "speed_mps": round(float(trajectory.speed_mps[first]), 2),
                    "target_speed_mps": round(targets[first], 2),
                    "decision": decisions[first],
                }
            )
    return {
        "scenario": scenario_id,
        "seed": seed,
        "score": round(scoring.driving_score(trajectory), 3),
        "comfortable": scoring.is_comfortable(trajectory),
        "failures": found,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planner", default="rules")
    parser.add_argument("--controller", default="mpc")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = StackSpec(planner=args.planner, controller=args.controller)
    _, scenarios = load_suite("regression")
    jobs = [(s.id, spec, seed) for s in scenarios for seed in s.seeds]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(episode, jobs))
    for row in rows:
        print(
            row["scenario"],
            row["seed"],
            row["score"],
            row["comfortable"],
            [
                (
                    f["bound"],
                    f["time_s"],
                    f["samples"],
                    f["speed_mps"],
                    f["target_speed_mps"],
                    f["decision"],
                )
                for f in row["failures"]
            ],
        )
    kinds: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for row in rows:
        if not row["comfortable"] and row["failures"]:
            first = min(row["failures"], key=lambda f: f["time_s"])
            when = "start" if first["time_s"] < START_S else "later"
            kinds[(row["scenario"], first["bound"], when)] += 1
    uncomfortable = sum(not row["comfortable"] for row in rows)
    print(f"{uncomfortable} of {len(rows)} episodes uncomfortable; by first failure:")
    for (scenario, bound, when), count in sorted(kinds.items()):
        print(f"  {scenario}: {bound} at the {when}: {count}")
    if args.json:
        write_json(args.json, {"provenance": provenance(), "episodes": rows})


if __name__ == "__main__":
    main()
