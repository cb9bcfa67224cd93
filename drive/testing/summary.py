"""The plugin's summary table and results file, from the episode records the test reports carry.

Plain Python only: under ``pytest -n`` this runs in the controlling process, which never drives an
episode and need not import torch or highway-env.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean
from typing import Any

Record = dict[str, Any]
"""One episode, as :meth:`drive.testing.episodes.DriveEpisode.record` gives it, plus ``kind``
(``"item"`` for a collected scenario item, ``"fixture"`` for an episode a test ran),
``baseline_score`` and ``regression``."""


def stack_label(stack: dict[str, str]) -> str:
    """``perception/planner/controller``, e.g. ``groundtruth/rules/mpc``."""
    return f"{stack['perception']}/{stack['planner']}/{stack['controller']}"


def summary_lines(records: Sequence[Record]) -> list[str]:
    """The summary table: one row per scenario and stack, its episodes' verdicts, mean score, the
    baseline's mean score over the same seeds, and what failed.

    :param records: every episode the session ran.
    :return: the table's lines, then one line of totals.
    """
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in records:
        groups.setdefault((record["scenario"], stack_label(record["stack"])), []).append(record)
    several_stacks = len({stack for _, stack in groups}) > 1
    header = ["scenario", "env", "passed", "score", "baseline", "failed", "wall (s)"]
    if several_stacks:
        header.insert(1, "stack")
    rows = [header]
    for (scenario_id, stack), episodes in groups.items():
        episodes = sorted(episodes, key=lambda r: r["seed"])
        row = [
            scenario_id,
            episodes[0]["env"],
            f"{sum(r['passed'] and not r.get('regression') for r in episodes)}/{len(episodes)}",
            f"{fmean(r['metrics']['score'] for r in episodes):.3f}",
            _baseline(episodes),
            _failed(episodes),
            f"{sum(r['wall_s'] for r in episodes):.0f}",
        ]
        if several_stacks:
            row.insert(1, stack)
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    passed = sum(r["passed"] and not r.get("regression") for r in records)
    stacks = "" if several_stacks else f", stack {stack_label(records[0]['stack'])}"
    lines.append(f"{passed} of {len(records)} episodes passed{stacks}")
    return lines


def results_document(records: Sequence[Record], *, tolerance: float | None) -> dict[str, Any]:
    """The collected items' results in ``drive eval --json``'s layout, so a later run can take the
    file as its ``--drive-baseline`` (and ``drive compare`` and ``drive eval --baseline`` read it).

    :param records: the collected scenario items' episodes (one stack).
    :param tolerance: the tolerance the run used, recorded in its config.
    :return: the document.
    """
    by_scenario: dict[str, Any] = {}
    for record in sorted(records, key=lambda r: (r["scenario"], r["seed"])):
        entry = by_scenario.setdefault(
            record["scenario"],
            {"env": record["env"], "source": record["source"], "predicates": {}, "episodes": []},
        )
        for predicate in record["predicates"]:
            verdict = entry["predicates"].setdefault(
                predicate["name"],
                {"passed": True, "threshold": predicate["threshold"], "values": []},
            )
            verdict["passed"] = verdict["passed"] and predicate["passed"]
            verdict["values"].append(predicate["value"])
        entry["episodes"].append(
            {"seed": record["seed"], "passed": record["passed"], **record["metrics"]}
        )
    for entry in by_scenario.values():
        entry["score"] = round(fmean(e["score"] for e in entry["episodes"]), 6)
        entry["passed"] = all(e["passed"] for e in entry["episodes"])
    stacks = {stack_label(r["stack"]): r["stack"] for r in records}
    return {
        "config": {
            "suite": "pytest",
            "stack": next(iter(stacks.values())) if len(stacks) == 1 else sorted(stacks),
            "tolerance": tolerance,
        },
        "scenarios": by_scenario,
        "score": round(fmean(s["score"] for s in by_scenario.values()), 6) if by_scenario else 0.0,
        "passed": all(s["passed"] for s in by_scenario.values()),
        "regressions": [
            {"scenario": r["scenario"], "seed": r["seed"], "reason": r["regression"]}
            for r in records
            if r.get("regression")
        ],
        "complete": True,
    }


def _baseline(episodes: Sequence[Record]) -> str:
    scores = [r.get("baseline_score") for r in episodes]
    known = [s for s in scores if s is not None]
    if not known:
        return "-"
    text = f"{fmean(known):.3f}"
    return text if len(known) == len(scores) else f"{text} ({len(known)} seeds)"


def _failed(episodes: Sequence[Record]) -> str:
    """What failed on some seed (the failure messages above the table say which, and by how much)."""
    failed: dict[str, None] = {}
    for record in episodes:
        for predicate in record["predicates"]:
            if not predicate["passed"]:
                failed[predicate["name"]] = None
        if record.get("regression"):
            failed["score below baseline"] = None
    return ", ".join(failed) or "-"
