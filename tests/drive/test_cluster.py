"""Episodes on Ray give the local results bit for bit, through a worker killed mid-episode and on
a cluster of two nodes (issue 32). The shipped regression baseline is the undisturbed local run:
the closed-loop tests keep it exact, so the runs here are compared with it, not run again locally.

These start Ray (seconds), so they sit outside the quick tier: scenarios (CI) and slow.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from drive.episode.stack import StackSpec
from drive.runs.cluster import local_cluster
from drive.runs.eval_suite import (
    SHIPPED_BASELINE,
    JudgedEpisode,
    metric_changes,
    run_suite,
    suite_document,
)
from sims.parallel import Workers
from sims.scenario import load_scenario
from sims.suite import load_suite
from tests.helpers import drive_in_process

# Short episodes of two roads: 6 episodes, about 30 s of CPU.
SCENARIOS = ("lead-brake-close", "u-turn")
TASK_TITLE = b"ray::run_ray_task"  # a Ray worker's process title while it runs one of our jobs


def busy_ray_workers() -> list[int]:
    """Process ids of the Ray workers this test started (its descendants) running a job now."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(TASK_TITLE) and _ours(entry.name):
                    found.append(int(entry.name))
            except OSError:  # gone meanwhile
                continue
    return found


def _ours(pid: str) -> bool:
    """Whether process ``pid`` descends from this one (another Ray on the machine is left alone)."""
    while pid not in ("0", "1"):
        if int(pid) == os.getpid():
            return True
        pid = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
    return False


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the test after ``seconds``: the pool's and the cluster's own cleanup
    (``finally``) then stops every Ray process the test started."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"gave up after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.scenarios
def test_a_worker_killed_mid_episode_has_its_episode_run_again_and_counted_once() -> None:
    scenarios = [load_scenario(name) for name in SCENARIOS]
    spec = StackSpec()
    finished: list[JudgedEpisode] = []
    killed: list[int] = []

    def on_episode(judged: JudgedEpisode) -> None:
        finished.append(judged)
        if not killed:  # the other worker is mid-episode when the first one comes back
            for pid in busy_ray_workers()[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    with time_limit(300):
        judged = run_suite(scenarios, spec, workers=Workers(2, "local"), on_episode=on_episode)
    assert killed, "no Ray worker was running an episode to kill"
    keys = [(j.result.scenario, j.result.seed) for j in finished]
    assert len(keys) == len(set(keys)) == sum(len(s.seeds) for s in scenarios)  # none twice
    _suite, _ = load_suite("regression")
    document = suite_document("regression", _suite, scenarios, spec, judged)
    baseline = json.loads(SHIPPED_BASELINE.read_text())
    assert metric_changes(document, baseline) == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_drive_eval_on_a_two_node_cluster_gives_the_local_results(tmp_path, monkeypatch) -> None:
    suite = tmp_path / "suite.toml"
    names = ", ".join(f'"{name}"' for name in SCENARIOS)
    suite.write_text(f'description = "two short roads"\nscenarios = [{names}]\ntolerance = 0.05\n')
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # loopback only; docs/cluster.md on tokens
    with (
        time_limit(600),
        local_cluster(free_port(), nodes=2, log_folder=tmp_path / "logs") as cluster,
    ):
        result = drive_in_process(
            "eval", "--suite", str(suite), "--ray", cluster.address,
            "--baseline", str(SHIPPED_BASELINE), "--exact",
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 6 episode(s) differ" in result.stdout
