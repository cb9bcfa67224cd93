"""Driving from pixels beside ground truth on the same seeds: issue 31's third target.

Reads two ``drive rollout --json`` files of the same seeds (one ``--perception cnn``, one from
ground truth) and prints collisions (at fault), the comfortable-episode rate, lane changes (in
all, a minute over all driven time, and an episode paired by seed) and the mean speed, with the
differences paired by seed and their t 95% intervals.

Lane changes are counted from each episode's decisions (its ``series``) with the recorder's own
rule (:func:`drive.episode.record.lane_change_starts`, since 37f0154: a change the rule planner
turns back is the same manoeuvre). Runs made before then counted a turn back as a second change;
counted here, every run counts alike.

    .venv/bin/python docs/experiments/pixels_vs_truth.py PIXELS.json TRUTH.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from drive.episode.record import lane_change_starts
from drive.runs.comparison import paired_difference


def lane_changes(document: dict[str, Any], seed: int) -> int:
    """Lane changes begun in one episode, from its run-length coded decisions."""
    runs = document["series"][str(seed)]["decisions"]
    return int(lane_change_starts([decision for _, decision in runs]).sum())


def figures(document: dict[str, Any]) -> dict[str, Any]:
    """The per-seed values and totals of one run."""
    episodes = {int(e["seed"]): e for e in document["episodes"]}
    changes = {seed: float(lane_changes(document, seed)) for seed in episodes}
    minutes = sum(e["duration_s"] for e in episodes.values()) / 60.0
    return {
        "commit": document["provenance"]["commit"][:7],
        "collisions": sum(bool(e["collided"]) for e in episodes.values()),
        "at_fault": sum(bool(e["at_fault_collision"]) for e in episodes.values()),
        "comfortable": {seed: float(e["comfortable"]) for seed, e in episodes.items()},
        "changes": changes,
        "changes_per_min": sum(changes.values()) / minutes,
        "speed": {seed: float(e["mean_speed_mps"]) for seed, e in episodes.items()},
    }


def paired(values: dict[int, float], reference: dict[int, float]) -> str:
    difference = paired_difference(values, reference)  # any per-seed value, not only speeds
    if difference is None:
        return "(seeds differ)"
    return f"{difference.mean_mps:+.2f} [{difference.low_mps:+.2f}, {difference.high_mps:+.2f}]"


def main(pixels_path: Path, truth_path: Path) -> None:
    pixels, truth = (figures(json.loads(p.read_text())) for p in (pixels_path, truth_path))
    rate = pixels["changes_per_min"] / truth["changes_per_min"] - 1.0
    rows = [
        ("commit", pixels["commit"], truth["commit"]),
        (
            "collisions (at fault)",
            f"{pixels['collisions']} ({pixels['at_fault']})",
            f"{truth['collisions']} ({truth['at_fault']})",
        ),
        (
            "comfortable episodes",
            f"{sum(pixels['comfortable'].values()):.0f}% "
            f"({paired(pixels['comfortable'], truth['comfortable'])})",
            f"{sum(truth['comfortable'].values()):.0f}%",
        ),
        (
            "lane changes in all",
            f"{sum(pixels['changes'].values()):.0f}",
            f"{sum(truth['changes'].values()):.0f}",
        ),
        (
            "lane changes a minute",
            f"{pixels['changes_per_min']:.2f} ({rate:+.0%})",
            f"{truth['changes_per_min']:.2f}",
        ),
        ("lane changes an episode, paired", paired(pixels["changes"], truth["changes"]), ""),
        (
            "mean speed [m/s]",
            f"{sum(pixels['speed'].values()) / len(pixels['speed']):.2f} "
            f"({paired(pixels['speed'], truth['speed'])})",
            f"{sum(truth['speed'].values()) / len(truth['speed']):.2f}",
        ),
    ]
    print("| | from pixels | ground truth |\n| --- | --- | --- |")
    for name, from_pixels, from_truth in rows:
        print(f"| {name} | {from_pixels} | {from_truth} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
