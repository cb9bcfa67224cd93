"""The one worker pool (sims.parallel), without starting Ray: the checks of its inputs, the files it
carries to worker nodes, and the in-process path. tests/drive/test_cluster.py runs it on Ray."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from sims.parallel import (
    CONNECT_TIMEOUT_S,
    FileBundle,
    Workers,
    connect,
    ray_module,
    run_jobs,
)
from sims.strict import ConfigError


def _add(offset: int, value: int) -> int:
    return offset + value


def test_jobs_in_this_process_get_the_shared_arguments_first_in_order() -> None:
    results = run_jobs(_add, [(1,), (2,), (3,)], workers=Workers(), shared=(10,))
    assert list(results) == [11, 12, 13]


def test_workers_refuse_no_process_and_an_empty_address() -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1, got 0"):
        Workers(0)
    with pytest.raises(ConfigError, match="--ray needs an address"):
        Workers(2, " ")
    assert Workers(2, "local").describe() == "a local Ray instance with 2 CPU(s)"
    assert Workers(1, "10.0.0.1:6379").describe() == "the Ray cluster at 10.0.0.1:6379"


def test_a_missing_ray_is_one_line_saying_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray then raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'drive-stack\[cluster\]'"):
        ray_module()


def test_an_address_where_nothing_listens_is_refused_in_seconds() -> None:
    with socket.socket() as unused:  # a port just freed: nothing listens there
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=f"--ray 127.0.0.1:{port}: no Ray cluster answers"):
        connect(Workers(1, f"127.0.0.1:{port}"))
    assert time.perf_counter() - started < CONNECT_TIMEOUT_S + 1.0
    with pytest.raises(ConfigError, match="expected local, auto or HOST:PORT"):
        connect(Workers(1, "nowhere"))


def test_a_node_without_the_policy_gets_its_bytes_and_one_with_other_bytes_refuses(
    tmp_path,
) -> None:
    policy = tmp_path / "run" / "policy.zip"
    policy.parent.mkdir()
    policy.write_bytes(b"weights")
    bundle = FileBundle.read([policy])
    bundle.provide()  # the same bytes already there: nothing to do
    assert policy.read_bytes() == b"weights"
    policy.unlink()
    policy.parent.rmdir()
    bundle.provide()  # a node without the run's folder
    assert policy.read_bytes() == b"weights"
    policy.write_bytes(b"other weights")
    with pytest.raises(ConfigError, match="this worker node has another file at this path"):
        bundle.provide()
