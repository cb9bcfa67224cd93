"""How fast, and how far along its route, can any planner drive a road within its speed limits?
The same stack on the same scenario with every other vehicle taken off the road after the reset:
an upper bound on the mean speed and the route completion of any planner that keeps to the road's
limits and rules as this one does, since traffic can only slow it.

merge-v0 starts the ego at 30 m/s on lanes limited to 20 m/s, so every planner's mean speed is
mostly its braking to the limit; this measures how much room the best rule variant leaves. Writes
the bound beside the given planners' per-seed speeds from rollout JSON files.

    .venv/bin/python docs/experiments/free_road_bound.py --scenario merge --planner rules-bold
        [--seeds 3] [--first-seed 100000] [--compare runs/eval43/merge-rules-bold.json ...] [--json F]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import rules_frontier  # noqa: F401  (registers the rule variants: rules-curves, rules-bold-curves...)

from drive.episode.loop import ClosedLoop
from drive.episode.metrics import EpisodeMetrics, episode_metrics
from drive.episode.record import Recorder
from drive.episode.stack import Stack, StackSpec
from sims.files import write_json
from sims.provenance import provenance
from sims.scenario import load_scenario

FIRST_SEED = 100_000


def free_road_episode(scenario_id: str, planner: str, seed: int) -> EpisodeMetrics:
    """The metrics of one episode of ``planner`` with the traffic removed."""
    scenario = load_scenario(scenario_id)
    stack = Stack.build(StackSpec(planner=planner), dt_s=scenario.dt_s, plant=scenario.plant)
    loop = ClosedLoop(scenario, stack)
    loop.reset(seed=seed)
    road = loop.sim.highway_env.road
    road.vehicles[:] = [loop.sim.highway_env.vehicle]  # the ego alone; obstacles stay
    loop.frame = loop.sim._frame()  # the first frame read again, without them
    recorder = Recorder(dt_s=loop.sim.dt_s, route_edges=loop.sim.route_edges)
    for step in loop.steps():
        recorder.record(step.sim, step.plan)
    trajectory = recorder.trajectory(controller_fallbacks=0, planner_overrides=0)
    return episode_metrics(trajectory, ended_by_environment=step.sim.terminated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="merge")
    parser.add_argument("--planner", default="rules-bold")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=FIRST_SEED)
    parser.add_argument("--compare", type=Path, nargs="*", default=[])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    alone = {seed: free_road_episode(args.scenario, args.planner, seed) for seed in seeds}
    bound = {seed: metrics.mean_speed_mps for seed, metrics in alone.items()}
    route = {seed: metrics.route_completion for seed, metrics in alone.items()}
    top = max(bound.values())
    print(
        f"{args.scenario}, {args.planner} alone on the road: "
        + ", ".join(
            f"seed {seed} {metrics.mean_speed_mps:.3f} m/s, {metrics.distance_m:.1f} m, "
            f"route {metrics.route_completion}"
            for seed, metrics in alone.items()
        )
    )
    compared = {}
    for path in args.compare:
        episodes = json.loads(path.read_text())["episodes"]
        speeds = np.array([episode["mean_speed_mps"] for episode in episodes])
        compared[path.stem] = {
            "episodes": len(speeds),
            "mean_speed_mps": float(speeds.mean()),
            "room_to_bound_mps": float(top - speeds.mean()),
            "seeds_at_bound": int(np.sum(speeds >= top - 0.01)),
        }
        print(
            f"{path.stem}: mean {speeds.mean():.3f} m/s; at most {top - speeds.mean():+.3f} m/s "
            f"to gain; {compared[path.stem]['seeds_at_bound']} of {len(speeds)} seeds at the bound"
        )
    if args.json:
        write_json(
            args.json,
            {
                "scenario": args.scenario,
                "planner": args.planner,
                "free_road_speed_mps": {str(seed): speed for seed, speed in bound.items()},
                "free_road_route_completion": {str(seed): share for seed, share in route.items()},
                "compared": compared,
                "provenance": provenance(),
            },
        )


if __name__ == "__main__":
    main()
