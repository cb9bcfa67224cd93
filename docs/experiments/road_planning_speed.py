"""Decisions per second of the road interface's planning environment: highway-env through the stack
(`drive.training.planning_env.PlanningEnv`, one environment, the MPC) against the batched engine
(`planning.rl.batched_roads.BatchedRoadPlanning`) at several batch sizes, in one run, per road.

Random decisions from a seeded generator; the engine's figure includes its resets. Writes JSON:

    python docs/experiments/road_planning_speed.py --out docs/results/road-planning-speed.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from drive.training.planning_env import EnvConfig, PlanningEnv
from drive.training.validation import road_specs
from planning.rl.batched_roads import BatchedRoadPlanning
from planning.rl.executor import ROAD_ACTIONS
from sims.files import write_json
from sims.machine import machine_description
from sims.provenance import provenance

ROADS = ("merge", "roundabout", "exit", "intersection")


def highway_env_rate(road: str, decisions: int) -> float:
    """Decisions per second of one highway-env planning environment on ``road``."""
    env = PlanningEnv(EnvConfig(scenario=road, interface="road"))
    rng = np.random.default_rng(0)
    env.reset(seed=0, options={"episode_seed": 100_000})
    started = time.perf_counter()
    for _ in range(decisions):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(len(ROAD_ACTIONS))))
        if terminated or truncated:
            env.reset(options={"episode_seed": int(rng.integers(100_000, 200_000))})
    rate = decisions / (time.perf_counter() - started)
    env.close()
    return rate


def engine_rate(road: str, batch: int, decisions: int) -> float:
    """Decisions per second of the engine's road planning environment, ``batch`` at once."""
    (spec,) = road_specs(road)
    task = BatchedRoadPlanning.of(spec, batch)
    generator = torch.Generator().manual_seed(0)
    task.step(torch.randint(len(ROAD_ACTIONS), (batch,), generator=generator))  # warm-up
    steps = max(1, decisions // batch)
    started = time.perf_counter()
    for _ in range(steps):
        task.step(torch.randint(len(ROAD_ACTIONS), (batch,), generator=generator))
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batches", default="64,256,1024")
    parser.add_argument("--highway-env-decisions", type=int, default=30)
    parser.add_argument("--engine-decisions", type=int, default=8192)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    for road in ROADS:
        baseline = highway_env_rate(road, args.highway_env_decisions)
        engine = {b: engine_rate(road, b, args.engine_decisions) for b in batches}
        best = max(engine.values())
        rows.append(
            {
                "road": road,
                "highway_env_decisions_per_s": round(baseline, 2),
                "engine_decisions_per_s": {str(b): round(r, 1) for b, r in engine.items()},
                "best_ratio": round(best / baseline, 1),
            }
        )
        print(
            f"{road:13s} highway-env {baseline:6.2f}/s  engine "
            + "  ".join(f"B={b}: {r:7.1f}/s" for b, r in engine.items())
            + f"  best x{best / baseline:.0f}"
        )
    write_json(
        args.out,
        {
            "what": "road-interface planning decisions per second, random decisions",
            "machine": machine_description(),
            "torch_threads": torch.get_num_threads(),
            "provenance": provenance(),
            "roads": rows,
        },
    )


if __name__ == "__main__":
    main()
