"""Fidelity of the batched engine on highway-env's road networks, two ways:

- trajectories: 100 seeds per road and ego action space, 10 s each (or until highway-env's episode
  ends), from identical initial scenes with identical random actions (highway-v0, whose 50 vehicles
  make highway-env slow, on 20 seeds: its 100-seed figure is the highway engine's, drive bench sim);
- random-policy statistics: crash rate, episode length and mean speed under uniform meta-actions,
  highway-env's episodes against 2,000 of the engine's (500 on intersection-v0), with 95%
  intervals of the differences.

Writes ``docs/results/network-fidelity.json``.

    python docs/experiments/network_fidelity.py [--seeds 100] [--out docs/results/network-fidelity.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sims.batched.fidelity import TOLERANCE_M
from sims.batched.network_fidelity import (
    compare_network_trajectory,
    road_random_policy_statistics,
)
from sims.files import write_json
from sims.machine import machine_description
from sims.provenance import provenance

STATISTICS = ("merge-v0", "exit-v0", "roundabout-v0", "intersection-v0")
CASES = [
    ("highway-v0", "continuous"),
    ("merge-v0", "continuous"),
    ("merge-v0", "meta"),
    ("exit-v0", "continuous"),
    ("exit-v0", "meta"),
    ("roundabout-v0", "continuous"),
    ("roundabout-v0", "meta"),
    ("racetrack-v0", "continuous"),
    ("intersection-v0", "continuous"),
    ("intersection-v0", "meta"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("docs/results/network-fidelity.json"))
    parser.add_argument("--env", action="append", help="only these roads (repeatable)")
    arguments = parser.parse_args()
    wanted = set(arguments.env or [env_id for env_id, _ in CASES])
    rows, statistics = [], []
    for env_id in [env_id for env_id in STATISTICS if env_id in wanted]:
        start = time.perf_counter()
        seeds = [1000 + seed for seed in range(arguments.seeds)]
        # intersection-v0's scenes each simulate three seconds of traffic first: fewer of them.
        count = 500 if env_id == "intersection-v0" else 2000
        result = road_random_policy_statistics(env_id, seeds, batched_episodes_count=count)
        result["wall_s"] = round(time.perf_counter() - start, 1)
        statistics.append(result)
        print(json.dumps({"env": env_id, "all_agree": result["all_agree"]}), flush=True)
    for env_id, control in [(env_id, control) for env_id, control in CASES if env_id in wanted]:
        start = time.perf_counter()
        count = min(arguments.seeds, 20) if env_id == "highway-v0" else arguments.seeds
        comparisons = [
            compare_network_trajectory(env_id, seed, seconds=10, ego_control=control)
            for seed in range(count)
        ]
        within = sum(comparison.within_tolerance for comparison in comparisons)
        rows.append(
            {
                "env": env_id,
                "ego_control": control,
                "seeds": count,
                "within_tolerance": within,
                "max_error_m": max(comparison.max_error_m for comparison in comparisons),
                "ego_crashed": sum(comparison.ego_crashed for comparison in comparisons),
                "policy_steps": sum(comparison.steps for comparison in comparisons),
                "wall_s": round(time.perf_counter() - start, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    result = {
        "tolerance_m": TOLERANCE_M,
        "seconds": 10,
        "provenance": provenance(),
        "machine": machine_description(),
        "rows": rows,
        "random_policy": statistics,
    }
    write_json(arguments.out, result)


if __name__ == "__main__":
    main()
