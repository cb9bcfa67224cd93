"""Always yield, or always go? The road interface's junction decision, held fixed, on unseen seeds.

Drives the planning environment (``drive.training.planning_env``: the executor, the MPC, highway-env)
with one decision repeated all episode, ``keep/faster/yield`` (the rule planner's yielding) or
``keep/faster/go`` (no yielding), at the road interface's lateral acceleration, on seeds that no
training or validation uses (100000 and up). Writes the collisions, speeds and the paired speed
difference (mean and 95% t-interval) to JSON.

    .venv/bin/python docs/experiments/yield_or_go.py --scenario intersection [--episodes 10]
        [--lateral-acceleration 4.0] [--json docs/results/yield-or-go-intersection.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import stats

from drive.training.planning_env import EnvConfig, PlanningEnv
from planning.rl.executor import ExecutorConfig
from sims.files import write_json
from sims.provenance import provenance

FIRST_SEED = 100_000


def drive(env: PlanningEnv, label: str, seed: int) -> dict[str, float]:
    """One episode with the decision ``label`` every second."""
    action = next(k for k, a in enumerate(env.interface.actions) if a.label == label)
    env.reset(seed=0, options={"episode_seed": seed})
    while True:
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return {
                "crashed": float(info["episode_crashed"]),
                "speed_mps": float(info["episode_mean_speed_mps"]),
            }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="intersection")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--lateral-acceleration", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    executor = ExecutorConfig(lateral_acceleration_mps2=args.lateral_acceleration)
    env = PlanningEnv(EnvConfig(scenario=args.scenario, interface="road", executor_config=executor))
    seeds = range(FIRST_SEED, FIRST_SEED + args.episodes)
    runs = {
        label: [drive(env, label, seed) for seed in seeds]
        for label in ("keep/faster/yield", "keep/faster/go")
    }
    env.close()
    difference = np.array(
        [g["speed_mps"] - y["speed_mps"] for y, g in zip(*runs.values(), strict=True)]
    )
    half = (
        stats.t.ppf(0.975, len(difference) - 1) * difference.std(ddof=1) / np.sqrt(len(difference))
    )
    document = {
        "scenario": args.scenario,
        "seeds": [seeds.start, seeds.stop - 1],
        "lateral_acceleration_mps2": args.lateral_acceleration,
        "collisions": {label: int(sum(r["crashed"] for r in rs)) for label, rs in runs.items()},
        "mean_speed_mps": {
            label: round(float(np.mean([r["speed_mps"] for r in rs])), 2)
            for label, rs in runs.items()
        },
        "go_minus_yield_speed_mps": [
            round(float(difference.mean() - half), 2),
            round(float(difference.mean()), 2),
            round(float(difference.mean() + half), 2),
        ],
        "episodes": runs,
        "provenance": provenance(),
    }
    print({k: v for k, v in document.items() if k not in ("episodes", "provenance")})
    if args.json:
        write_json(args.json, document)


if __name__ == "__main__":
    main()
