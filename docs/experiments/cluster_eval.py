"""The regression suite on a two-node Ray cluster against the local process pool, and Ray's
per-task overhead (docs/cluster.md).

1. ``drive eval --suite regression --workers 2`` (the local pool), timed;
2. a head and a worker node on this machine (``ray start``, one CPU each), and
   ``drive eval --suite regression --ray 127.0.0.1:PORT``, timed without the cluster's start;
3. every episode metric of the two compared (``drive eval --baseline``'s comparison);
4. the overhead of one task: ``--tasks`` empty jobs through the pool and through a local Ray with two
   CPUs, the shared arguments as in ``drive eval`` (one scenario and the stack), start-up apart;
5. what ``drive eval --json``'s journal costs the driver over ``--journal-episodes`` episodes.

Writes ``docs/results/cluster-eval.json``; the machine's load averages before and after each run
are recorded beside the times (other work on the machine slows both sides).

    RAY_AUTH_MODE=disabled python docs/experiments/cluster_eval.py [--port 6391] [--skip-suite]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from drive.episode.stack import StackSpec
from drive.runs.cluster import local_cluster
from drive.runs.eval_suite import SHIPPED_BASELINE, metric_changes
from sims.files import write_json
from sims.machine import machine_description
from sims.parallel import Workers, connect, run_jobs
from sims.provenance import provenance
from sims.scenario import load_scenario


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(value, 2) for value in os.getloadavg()]


def timed_eval(arguments: list[str], json_path: Path) -> dict[str, Any]:
    """Run ``drive eval`` in a child process; its wall time and the load around it."""
    before = load()
    started = time.perf_counter()
    command = [sys.executable, "-m", "drive.cli", "eval", "--suite", "regression"]
    finished = subprocess.run([*command, *arguments, "--json", str(json_path)], check=False)
    return {
        "command": "drive eval --suite regression " + " ".join(arguments),
        "wall_s": round(time.perf_counter() - started, 1),
        "exit_code": finished.returncode,
        "load_before": before,
        "load_after": load(),
    }


def nothing(scenario: Any, spec: StackSpec, index: int) -> int:
    """An empty job with ``drive eval``'s shared arguments."""
    return index


def task_overhead(tasks: int) -> dict[str, Any]:
    """Milliseconds per empty job through the pool and through a local Ray with two CPUs: the
    difference between ``tasks`` jobs and one, so that start-up (timed apart) cancels out."""
    import ray

    shared = (load_scenario("highway"), StackSpec())

    def run(count: int, workers: Workers) -> float:
        started = time.perf_counter()
        jobs = [(index,) for index in range(count)]
        assert sorted(run_jobs(nothing, jobs, workers=workers, shared=shared)) == list(range(count))
        return time.perf_counter() - started

    figures: dict[str, Any] = {"tasks": tasks}
    pool = Workers(2)
    one, many = run(2, pool), run(tasks, pool)  # both processes started in each
    figures["pool"] = {
        "start_s": round(one, 2),
        "per_task_ms": round(1000 * (many - one) / (tasks - 2), 3),
    }
    started = time.perf_counter()
    connect(Workers(2, "local"))  # run_jobs then uses this instance and leaves it running
    start = time.perf_counter() - started
    try:
        on_ray = Workers(2, "local")
        run(2, on_ray)  # the two worker processes are up
        one, many = run(1, on_ray), run(tasks, on_ray)
    finally:
        ray.shutdown()
    figures["ray"] = {
        "start_s": round(start, 2),
        "per_task_ms": round(1000 * (many - one) / (tasks - 1), 3),
    }
    return figures


def journal_cost(episodes: int, folder: Path, journals: ModuleType | None = None) -> dict[str, Any]:
    """Seconds ``drive eval --json``'s journal spends on ``episodes`` episodes: it appends a line
    after each (a regression-baseline episode, repeated).

    :param journals: the module whose ``SuiteJournal`` and ``JudgedEpisode`` to time (an earlier
        version of ``drive.runs.eval_suite``, ``docs/experiments/journal_cost.py``); this one's by
        default.
    """
    from drive.episode.loop import EpisodeResult
    from drive.episode.metrics import EpisodeMetrics
    from drive.runs import eval_suite

    journals = journals or eval_suite
    record = json.loads(SHIPPED_BASELINE.read_text())["scenarios"]["highway"]["episodes"][0]
    metrics = EpisodeMetrics(**{k: v for k, v in record.items() if k not in ("seed", "passed")})
    journal = journals.SuiteJournal(
        folder / "journal.json", "regression", StackSpec(), resume=False
    )
    started, last = time.perf_counter(), 0.0
    for seed in range(episodes):
        before = time.perf_counter()
        result = EpisodeResult("highway", seed, metrics, {"wall_s": 1.0})
        journal.add(journals.JudgedEpisode(result, ()))
        last = time.perf_counter() - before
    journal.close()
    return {
        "episodes": episodes,
        "total_s": round(time.perf_counter() - started, 1),
        "last_write_ms": round(1000 * last, 1),
        "load_after": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6391)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--journal-episodes", type=int, default=1600)
    parser.add_argument("--skip-suite", action="store_true", help="Only the overheads.")
    parser.add_argument("--out", type=Path, default=Path("docs/results/cluster-eval.json"))
    options = parser.parse_args()
    folder = options.out.parent / "cluster-eval"
    folder.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {"machine": machine_description(), "provenance": provenance()}
    document["overhead"] = task_overhead(options.tasks)
    print(json.dumps(document["overhead"]), flush=True)
    document["journal"] = journal_cost(options.journal_episodes, folder)
    print(json.dumps(document["journal"]), flush=True)
    if not options.skip_suite:
        pool_json, cluster_json = folder / "pool.json", folder / "cluster.json"
        document["pool"] = timed_eval(["--workers", "2"], pool_json)
        print(json.dumps(document["pool"]), flush=True)
        with local_cluster(options.port, nodes=2, log_folder=folder / "logs") as cluster:
            document["cluster"] = timed_eval(["--ray", cluster.address], cluster_json)
        print(json.dumps(document["cluster"]), flush=True)
        changes = metric_changes(
            json.loads(cluster_json.read_text()), json.loads(pool_json.read_text())
        )
        document["metric_changes"] = len(changes)
        document["wall_ratio"] = round(
            document["cluster"]["wall_s"] / document["pool"]["wall_s"], 3
        )
    write_json(options.out, document)
    print(json.dumps({k: v for k, v in document.items() if k not in ("provenance",)}, indent=1))


if __name__ == "__main__":
    main()
