"""How far highway-env drifts from itself: the bound on any re-implementation's trajectory fidelity.

Each seed's episode runs twice in highway-env, with the same random actions; in the second run the
ego starts 1e-13 m further along x, a few times the rounding error of one operation on
these coordinates. Where highway-env's own steering law amplifies rounding (its heading-rate
command divides by the speed, so an ego braking to a standstill steers chaotically), the two runs
part by more than 1e-6 m: no implementation whose arithmetic differs from highway-env's by a
rounding error (torch's vectorised sin, cos and atan2 differ from numpy's by an ulp) can stay within
1e-6 m of highway-env there. Writes ``docs/results/perturbation-oracle.json``.

    python docs/experiments/perturbation_oracle.py [--seeds 100] [--env roundabout-v0 --env ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sims.batched.fidelity import TOLERANCE_M
from sims.batched.network_fidelity import make_environment, reset
from sims.files import write_json
from sims.machine import machine_description
from sims.provenance import provenance

NUDGE_M = 1e-13  # [m] a few ulps of a coordinate near 100 m


def trajectory(env_id: str, seed: int, control: str, nudge_m: float, seconds: int) -> list:
    """Every vehicle's position after each policy step (until the episode ends)."""
    env = make_environment(env_id, control)
    reset(env, seed)
    unwrapped = env.unwrapped
    unwrapped.vehicle.position[0] += nudge_m
    actions = len(getattr(unwrapped.action_type, "actions", {})) or 5
    rng = np.random.default_rng(seed)
    positions = []
    for _ in range(seconds * int(unwrapped.config["policy_frequency"])):
        action = rng.uniform(-1, 1, 2) if control == "continuous" else int(rng.integers(actions))
        _, _, terminated, truncated, _ = env.step(action)
        positions.append([list(vehicle.position) for vehicle in unwrapped.road.vehicles])
        if terminated or truncated:
            break
    return positions


def drift_m(env_id: str, seed: int, control: str, seconds: int = 10) -> float:
    """The largest position difference between the two runs, while both hold the same vehicles."""
    first = trajectory(env_id, seed, control, 0.0, seconds)
    second = trajectory(env_id, seed, control, NUDGE_M, seconds)
    worst = 0.0
    for a, b in zip(first, second, strict=False):
        if len(a) != len(b):
            break
        worst = max(worst, float(np.abs(np.array(a) - np.array(b)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--env", action="append", default=None)
    parser.add_argument("--control", default="meta")
    parser.add_argument("--out", type=Path, default=Path("docs/results/perturbation-oracle.json"))
    arguments = parser.parse_args()
    rows = []
    for env_id in arguments.env or ["roundabout-v0", "intersection-v0"]:
        drifts = [drift_m(env_id, seed, arguments.control) for seed in range(arguments.seeds)]
        rows.append(
            {
                "env": env_id,
                "ego_control": arguments.control,
                "seeds": arguments.seeds,
                "nudge_m": NUDGE_M,
                "seeds_within_tolerance": sum(drift <= TOLERANCE_M for drift in drifts),
                "seeds_beyond": [s for s, drift in enumerate(drifts) if drift > TOLERANCE_M],
                "max_drift_m": max(drifts),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    document = {
        "provenance": provenance(),
        "machine": machine_description(),
        "tolerance_m": TOLERANCE_M,
    }
    document["rows"] = rows
    write_json(arguments.out, document)


if __name__ == "__main__":
    main()
