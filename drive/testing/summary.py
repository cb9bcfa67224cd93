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
    """The summary: a table of the collected scenario items, one row per scenario (its seeds'
    verdicts, mean score, the baseline's mean score over the same seeds, what failed), then one of
    the episodes tests drove through the ``drive_episode`` fixture, which their tests judge.

    :param records: every episode the session ran.
    :return: the lines to print.
    """
    items = [r for r in records if r["kind"] == "item"]
    driven = [r for r in records if r["kind"] != "item"]
    lines: list[str] = []
    if items:
        lines += _items_table(items)
    if driven:
        lines += [""] if lines else []
        lines += ["episodes driven by tests (drive_episode; each test judges its own):"]
        lines += _driven_table(driven)
    return lines


def _items_table(items: Sequence[Record]) -> list[str]:
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in sorted(items, key=lambda r: (r["source"], r["scenario"], r["seed"])):
        groups.setdefault((record["source"], record["scenario"]), []).append(record)
    rows = [["scenario", "env", "passed", "score", "baseline", "failed", "wall (s)"]]
    for (_, scenario_id), episodes in groups.items():
        rows.append(
            [
                scenario_id,
                episodes[0]["env"],
                f"{sum(_passed(r) for r in episodes)}/{len(episodes)}",
                f"{fmean(r['metrics']['score'] for r in episodes):.3f}",
                _baseline(episodes),
                _failed(episodes),
                f"{sum(r['wall_s'] for r in episodes):.0f}",
            ]
        )
    stacks = sorted({stack_label(r["stack"]) for r in items})
    total = f"{sum(_passed(r) for r in items)} of {len(items)} scenario items passed"
    return [*_table(rows), f"{total}, stack {', '.join(stacks)}"]


def _driven_table(driven: Sequence[Record]) -> list[str]:
    rows = [["test", "scenario", "seed", "stack", "score", "criteria"]]
    for record in sorted(driven, key=lambda r: r["source"]):
        rows.append(
            [
                record["source"],
                record["scenario"],
                str(record["seed"]),
                stack_label(record["stack"]),
                f"{record['metrics']['score']:.3f}",
                "met" if record["passed"] else f"failed {_failed([record])}",
            ]
        )
    return _table(rows)


def _table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns under a header and a rule."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def _passed(record: Record) -> bool:
    return bool(record["passed"]) and not record.get("regression")


def results_document(records: Sequence[Record], *, tolerance: float | None) -> dict[str, Any]:
    """The collected items' results in ``drive eval --json``'s layout, so a later run can take the
    file as its ``--drive-baseline``, and ``drive eval --baseline`` as its baseline.

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
