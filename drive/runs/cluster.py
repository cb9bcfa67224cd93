"""A Ray cluster of one-CPU nodes on this machine: a head and workers joining it, as on real machines.

The tests and ``docs/experiments/cluster_eval.py`` use it to run the same commands a cluster runs
(``--ray HOST:PORT``) without a second machine. Each node is a ``ray start --block`` child of this
process, started with this interpreter (so its workers import this checkout), and stopped by its own
process id: other Ray instances on the machine are left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT_S = 120.0  # [s] a node's start on a loaded 2-core machine takes 10-30 s
STOP_TIMEOUT_S = 30.0  # [s]
PROBE_TIMEOUT_S = 30.0  # [s]


@dataclass(frozen=True)
class LocalCluster:
    """A running cluster: its address for ``--ray``, and its nodes' ``ray start`` processes."""

    address: str
    nodes: tuple[subprocess.Popen, ...]


def ray_command(*arguments: str) -> list[str]:
    """``ray ARGUMENTS`` run by this interpreter (its workers then import this checkout).

    :param arguments: the ``ray`` CLI's arguments.
    :return: the command line.
    """
    return [sys.executable, "-m", "ray.scripts.scripts", *arguments]


@contextmanager
def local_cluster(port: int, *, nodes: int = 2, log_folder: Path) -> Iterator[LocalCluster]:
    """Start a head and ``nodes - 1`` workers, each with one CPU; stop them all on exit.

    :param port: the head's port; the address is ``127.0.0.1:port``.
    :param nodes: nodes in all, the head included.
    :param log_folder: each node's ``ray start`` output goes to ``node-K.log`` here.
    :return: (yields) the cluster, once every node has joined.
    """
    address = f"127.0.0.1:{port}"
    log_folder.mkdir(parents=True, exist_ok=True)
    started: list[subprocess.Popen] = []
    try:
        for index in range(nodes):
            where = ["--head", "--port", str(port)] if index == 0 else ["--address", address]
            log = open(log_folder / f"node-{index}.log", "w")  # noqa: SIM115 (the child keeps it)
            command = ray_command("start", *where, "--num-cpus", "1", "--block", *_head_only(index))
            started.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
            _wait_for_nodes(address, index + 1, started)
        yield LocalCluster(address, tuple(started))
    finally:
        for process in reversed(started):
            _stop(process)


def _head_only(index: int) -> list[str]:
    return ["--include-dashboard", "false"] if index == 0 else []


def _wait_for_nodes(address: str, count: int, processes: list[subprocess.Popen]) -> None:
    """Wait until ``count`` nodes are alive at ``address``, asking in a separate interpreter so
    that this process stays free to connect as a driver afterwards."""
    probe = (
        "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
        "sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= int(sys.argv[2]) else 1)"
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"a Ray node exited with code {process.returncode} on start")
        time.sleep(2)
        try:
            checked = subprocess.run(
                [sys.executable, "-c", probe, address, str(count)],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:  # ray.init waits while the head is not up yet
            continue
        if checked.returncode == 0:
            return
    raise TimeoutError(f"{count} Ray node(s) not up at {address} after {START_TIMEOUT_S} s")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to a ``ray start --block`` stops the node's own processes; SIGKILL if it hangs."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
