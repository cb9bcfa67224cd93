"""What ``drive eval --json``'s journal costs the driver, now and at an earlier commit, in one run.

Loads ``SuiteJournal`` from ``drive/runs/eval_suite.py`` as it was at ``--before`` (``git show``)
and as it is now, and times ``--episodes`` episodes into each with ``cluster_eval.journal_cost``:

    .venv/bin/python docs/experiments/journal_cost.py [--before 94e4644] [--episodes 1600]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from cluster_eval import journal_cost  # this folder's: the script's own directory is on sys.path


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="94e4644")
    parser.add_argument("--episodes", type=int, default=1600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before, tempfile.TemporaryDirectory() as now:
        figures = {
            f"at {args.before}": journal_cost(args.episodes, Path(before), module_at(args.before)),
            "now": journal_cost(args.episodes, Path(now)),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
