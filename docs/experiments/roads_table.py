"""The all-roads planner beside the rules, road by road: issue 30's table.

Reads rollout JSON files (``drive rollout ... --json``, or ``rules_frontier.py --scenario``) named
``ROAD-PLANNER.json`` in one folder, and writes, per road, one row per planner: episodes,
collisions and at-fault collisions (Wilson 95% intervals), mean speed (t 95% interval), route
completion where the road has a route, the safety layer's overrides per episode, and the speed difference paired seed by seed with the best
rule variant of that road. The best rule variant is the fastest ``rules*`` file among those with the
fewest at-fault collisions, chosen on these very seeds, which favours the rules.

    .venv/bin/python docs/experiments/roads_table.py runs/eval30b [--json docs/results/roads.json]
        [--carry docs/results/roads.json ROAD/PLANNER ...]

Prints a Markdown table; ``--json`` keeps every figure with the provenance of each input file.
``--carry FILE ROAD/PLANNER ...`` takes those rows as measured before, from an earlier ``--json``
(with their speeds by seed and their provenance), for runs whose code path has not changed since.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from drive.runs.comparison import collision_interval, mean_interval, paired_difference
from sims.files import write_json


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """One planner on one road: the figures of the table."""
    episodes = document["episodes"]
    speeds = {int(e["seed"]): float(e["mean_speed_mps"]) for e in episodes}
    collided = sum(bool(e["collided"]) for e in episodes)
    # highway-env's own baseline (drive baseline eval) records collisions, not who was at fault
    judged = all("at_fault_collision" in e for e in episodes)
    at_fault = sum(bool(e["at_fault_collision"]) for e in episodes) if judged else None
    completions = [e["route_completion"] for e in episodes if e.get("route_completion") is not None]
    return {
        "episodes": len(episodes),
        "collisions": collided,
        "collision_interval": collision_interval(collided, len(episodes)),
        "at_fault": at_fault,
        "at_fault_interval": None
        if at_fault is None
        else collision_interval(at_fault, len(episodes)),
        "mean_speed_mps": float(np.mean(list(speeds.values()))),
        "speed_interval_mps": mean_interval(list(speeds.values())),
        "off_road": sum(bool(e.get("off_road")) for e in episodes),
        "route_completion": float(np.mean(completions)) if completions else None,
        "min_route_completion": float(np.min(completions)) if completions else None,
        # the safety layer's vetoes and aborts per episode (0 for a planner without one)
        "overrides_per_episode": float(np.mean([e.get("planner_overrides", 0) for e in episodes])),
        "speeds_by_seed": speeds,
        "provenance": document.get("provenance"),
    }


def best_rules(rows: dict[str, dict[str, Any]]) -> str:
    """The fastest rule variant among those with the fewest at-fault collisions."""
    rules = {name: row for name, row in rows.items() if name.startswith("rules")}
    fewest = min(row["at_fault"] for row in rules.values())
    return max(  # on a tie in speed, the simpler variant (the shorter name)
        (name for name, row in rules.items() if row["at_fault"] == fewest),
        key=lambda name: (rules[name]["mean_speed_mps"], -len(name)),
    )


def carried(path: Path, names: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """The rows ``ROAD/PLANNER`` of an earlier ``--json`` file, as :func:`summary` makes them."""
    earlier = json.loads(path.read_text())
    roads: dict[str, dict[str, dict[str, Any]]] = {}
    for name in names:
        road, planner = name.split("/", 1)
        try:
            row = dict(earlier[road]["planners"][planner])
        except KeyError:
            raise SystemExit(f"{path}: no row {name!r} to carry") from None
        row.pop("paired_speed_vs_best_rules_mps", None)
        row["speeds_by_seed"] = {int(k): v for k, v in row["speeds_by_seed"].items()}
        row["carried_from"] = str(path)
        roads.setdefault(road, {})[planner] = row
    return roads


def table(
    folder: Path, carry: dict[str, dict[str, dict[str, Any]]] | None = None
) -> dict[str, dict[str, Any]]:
    """Every road of ``folder`` (and the ``carry`` rows): its rows, its best rule variant and the
    paired differences."""
    roads: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*-*.json")):
        road, planner = path.stem.split("-", 1)
        roads.setdefault(road, {})[planner] = summary(json.loads(path.read_text()))
    for road, rows in (carry or {}).items():
        for planner, row in rows.items():
            if planner in roads.get(road, {}):
                raise SystemExit(f"{road}/{planner}: both measured in {folder} and carried")
            roads.setdefault(road, {})[planner] = row
    roads = {road: dict(sorted(rows.items(), key=_order)) for road, rows in sorted(roads.items())}
    result: dict[str, dict[str, Any]] = {}
    for road, rows in roads.items():
        best = best_rules(rows) if any(name.startswith("rules") for name in rows) else None
        for row in rows.values():
            difference = (
                paired_difference(row["speeds_by_seed"], rows[best]["speeds_by_seed"])
                if best is not None
                else None
            )
            row["paired_speed_vs_best_rules_mps"] = (
                None
                if difference is None
                else [difference.mean_mps, difference.low_mps, difference.high_mps]
            )
        result[road] = {"best_rules": best, "planners": rows}
    return result


def _order(item: tuple[str, dict[str, Any]]) -> tuple[int, str]:
    """Learned policies first, then the rule variants, then highway-env's DQN; by name within."""
    name = item[0]
    return (1 if name.startswith("rules") else 2 if name.startswith("sb3") else 0, name)


def markdown(result: dict[str, dict[str, Any]]) -> str:
    """The table as Markdown, one block of rows per road."""
    lines = [
        "| road | planner | episodes | collisions (at fault) | at-fault 95% | off road "
        "| speed m/s [95%] | route done (min) | overrides/episode | Δspeed vs best rules [95%] |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for road, entry in result.items():
        for name, row in entry["planners"].items():
            fault = "?" if row["at_fault"] is None else row["at_fault"]
            interval = row["at_fault_interval"]
            fault_interval = "—" if interval is None else f"{interval[0]:.3f}–{interval[1]:.3f}"
            speed = row["speed_interval_mps"] or (np.nan, np.nan)
            route = (
                "—"
                if row["route_completion"] is None
                else f"{row['route_completion']:.3f} ({row['min_route_completion']:.2f})"
            )
            paired = row["paired_speed_vs_best_rules_mps"]
            delta = (
                "—"
                if paired is None or name == entry["best_rules"]
                else f"{paired[0]:+.2f} [{paired[1]:+.2f}, {paired[2]:+.2f}]"
            )
            marker = " (best rules)" if name == entry["best_rules"] else ""
            lines.append(
                f"| {road} | {name}{marker} | {row['episodes']} | {row['collisions']} "
                f"({fault}) | {fault_interval} | {row.get('off_road', '?')} "
                f"| {row['mean_speed_mps']:.2f} "
                f"[{speed[0]:.2f}, {speed[1]:.2f}] | {route} | {row['overrides_per_episode']:.2f} "
                f"| {delta} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--carry", nargs="+", metavar="FILE ROAD/PLANNER")
    args = parser.parse_args()
    carry = carried(Path(args.carry[0]), args.carry[1:]) if args.carry else None
    result = table(args.folder, carry)
    print(markdown(result))
    if args.json is not None:
        for entry in result.values():
            for row in entry["planners"].values():
                row["speeds_by_seed"] = {str(k): v for k, v in row["speeds_by_seed"].items()}
        write_json(args.json, result)


if __name__ == "__main__":
    main()
