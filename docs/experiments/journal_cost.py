"""What ``drive eval --json``'s journal costs the driver, now and at an earlier commit, in one run.

Loads ``SuiteJournal`` from ``drive/runs/eval_suite.py`` as it was at ``--before`` (``git show``)
and as it is now, and records ``--episodes`` episodes (a regression-baseline episode, repeated)
into each, timing every ``add``:

    .venv/bin/python docs/experiments/journal_cost.py [--before 94e4644] [--episodes 1600]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import drive.runs.eval_suite as current
from drive.episode.loop import EpisodeResult
from drive.episode.metrics import EpisodeMetrics
from drive.episode.stack import StackSpec


def module_at(commit: str) -> ModuleType:
    """``drive.runs.eval_suite`` as it was at ``commit``."""
    source = subprocess.run(
        ["git", "show", f"{commit}:drive/runs/eval_suite.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "eval_suite_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("eval_suite_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def cost(module: ModuleType, episodes: int) -> dict[str, float]:
    """Total and last ``add`` of ``episodes`` episodes into ``module``'s journal."""
    record = json.loads(current.SHIPPED_BASELINE.read_text())["scenarios"]["highway"]["episodes"][0]
    metrics = EpisodeMetrics(**{k: v for k, v in record.items() if k not in ("seed", "passed")})
    with tempfile.TemporaryDirectory() as folder:
        journal = module.SuiteJournal(
            Path(folder) / "eval.json", "regression", StackSpec(), resume=False
        )
        started, last = time.perf_counter(), 0.0
        for seed in range(episodes):
            before = time.perf_counter()
            result = EpisodeResult("highway", seed, metrics, {"wall_s": 1.0})
            journal.add(module.JudgedEpisode(result, ()))
            last = time.perf_counter() - before
        return {
            "total_s": round(time.perf_counter() - started, 2),
            "last_add_ms": round(1000 * last, 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="94e4644")
    parser.add_argument("--episodes", type=int, default=1600)
    args = parser.parse_args()
    figures = {
        f"at {args.before}": cost(module_at(args.before), args.episodes),
        "now": cost(current, args.episodes),
        "episodes": args.episodes,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
