"""The camera's reach as a bound (issue 31): the camera oracle on highway-v0 with a longer window.

Usage: python docs/experiments/camera_reach.py WIDTH_PX FIRST_SEED EPISODES
The oracle reports the exact state of every vehicle whose centre a WIDTH_PX x 64 px window at
2 px/m shows; the rule planner and the MPC drive. Writes out/camera-reach-WIDTH_PX-FIRST.json after
every episode (with the commit and versions that made it) and prints the comfortable rate and
the lane changes a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import perception.registry as registry
from drive.episode.loop import run_episode
from drive.episode.stack import StackSpec
from perception.ground_truth_perceiver import CameraWindowOracle
from sims.dataset import FrameSpec
from sims.files import write_json
from sims.machine import machine_description
from sims.provenance import provenance
from sims.scenario import load_scenario


def main(width_px: int, first: int, episodes: int) -> None:
    class LongerOracle(CameraWindowOracle):
        """The camera oracle through a window ``width_px`` long."""

        def __init__(self) -> None:
            super().__init__(FrameSpec(width_px=width_px))

    # In this process only (no worker processes), the registry's oracle reads the longer window.
    registry.PERCEIVERS["camera-oracle"] = LongerOracle
    scenario = load_scenario("highway")
    out = Path(f"out/camera-reach-{width_px}-{first}.json")
    config = {"scenario": "highway", "planner": "rules", "controller": "mpc", "width_px": width_px}
    document = {"config": config, "provenance": provenance(), "machine": machine_description()}
    rows: list[dict] = []
    for seed in range(first, first + episodes):
        metrics = run_episode(scenario, StackSpec(perception="camera-oracle"), seed).metrics
        rows.append(
            {
                "seed": seed,
                "comfortable": metrics.comfortable,
                "lane_changes_per_min": metrics.lane_changes_per_min,
                "collided": metrics.collided,
                "mean_speed_mps": metrics.mean_speed_mps,
            }
        )
        write_json(out, {**document, "episodes": rows})  # atomic: an interrupted run keeps its rows
    comfortable = np.mean([row["comfortable"] for row in rows])
    changes = np.mean([row["lane_changes_per_min"] for row in rows])
    print(
        f"{width_px} px, {len(rows)} episodes: {comfortable:.0%} comfortable, {changes:.2f} lc/min"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
