"""How fast does highway-v0's traffic drive? Its mean speed, with the ego taken off the road.

highway-env gives every other vehicle of highway-v0 a desired speed drawn between 0.7 and 0.8 of
the road's 30 m/s limit, and places all of them ahead of the ego. Vehicles that catch a slower one
follow it until MOBIL finds them a gap, so the traffic as a whole drives slower than it wishes. This
script measures how much slower: each episode of the ``highway`` scenario (the one ``drive rollout``
evaluates) is reset with its seed, the ego is removed, and the traffic alone is stepped for the
episode's duration at the scenario's simulation rate.

    .venv/bin/python docs/experiments/traffic_speed.py [--episodes 10] [--seed 100000]
"""

from __future__ import annotations

import argparse

import numpy as np

from sims.env import SimEnv
from sims.scenario import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=100_000, help="the first episode's seed")
    args = parser.parse_args()
    scenario = load_scenario("highway")
    sim = SimEnv(scenario)
    steps = round(scenario.duration_s * scenario.simulation_hz)
    episode_speeds, desired = [], []
    for episode in range(args.episodes):
        sim.reset(seed=args.seed + episode)
        road = sim.highway_env.road
        road.vehicles.remove(sim.highway_env.vehicle)
        desired += [vehicle.target_speed for vehicle in road.vehicles]
        speeds = []
        for _ in range(steps):
            road.act()
            road.step(scenario.dt_s)
            speeds.append(np.mean([vehicle.speed for vehicle in road.vehicles]))
        episode_speeds.append(float(np.mean(speeds)))
        print(f"seed {args.seed + episode}: traffic mean speed {episode_speeds[-1]:.2f} m/s")
    sim.close()
    print(
        f"{args.episodes} episodes of '{scenario.id}': traffic mean speed "
        f"{np.mean(episode_speeds):.2f} m/s (episodes from {min(episode_speeds):.2f} to "
        f"{max(episode_speeds):.2f}); desired speeds from {min(desired):.1f} to "
        f"{max(desired):.1f} m/s, mean {np.mean(desired):.2f}"
    )


if __name__ == "__main__":
    main()
