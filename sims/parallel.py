"""The project's one worker pool: independent jobs (episodes, fidelity checks) run in this process,
over local worker processes, or on a Ray cluster, and their results come back as they finish.

It lives in ``sims`` (the bottom layer) so that every package, the fidelity checks of
``sims.batched`` included, shares it. Ray is optional (the ``cluster`` extra) and imported only when
a run asks for it. On Ray, the arguments every job shares (the stack, the scenarios, the policy's
bytes) are put in the object store once per run, not sent with every task, and a task whose worker
process dies is run again (Ray's task retries): each job is one task, so its result counts once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sims.files import atomic_path
from sims.strict import ConfigError

Result = TypeVar("Result")

TASK_RETRIES = 3
"""How many times Ray runs a task again after its worker process died (a node lost, a kill)."""

LOCAL = "local"
"""``--ray local``: start a Ray instance on this machine for the run, and stop it after."""

CONNECT_TIMEOUT_S = 5.0  # [s] a HOST:PORT given to --ray must accept a connection this soon


@dataclass(frozen=True)
class FileBundle:
    """The bytes of the files a run's jobs read, to carry them to worker nodes."""

    contents: tuple[tuple[str, bytes], ...]

    @classmethod
    def read(cls, paths: Sequence[Path]) -> FileBundle:
        """:param paths: files to carry. :return: their bytes, by absolute path."""
        return cls(tuple((str(Path(p).resolve()), Path(p).read_bytes()) for p in paths))

    def provide(self) -> None:
        """Write each file this machine lacks at its path; refuse one that differs here.

        :raises ConfigError: a file at the same path with other bytes (results would differ).
        """
        for name, content in self.contents:
            path = Path(name)
            if not path.exists():
                _write(path, content)
            elif hashlib.sha256(path.read_bytes()).digest() != hashlib.sha256(content).digest():
                raise ConfigError(f"{path}: this worker node has another file at this path")


def _write(path: Path, content: bytes) -> None:
    try:
        with atomic_path(path) as temporary:
            temporary.write_bytes(content)
    except FileNotFoundError:  # another worker of this node wrote it at the same moment
        if not path.exists():
            raise


@dataclass(frozen=True)
class Workers:
    """Where a run's jobs go.

    :param processes: local worker processes (1: in this process); with ``--ray local``, the CPUs
        of the Ray instance started for the run.
    :param ray: None for the local pool; ``"local"``, ``"auto"`` or a head's ``HOST:PORT`` for Ray.
    """

    processes: int = 1
    ray: str | None = None

    def __post_init__(self) -> None:
        if self.processes < 1:
            raise ConfigError(f"workers must be >= 1, got {self.processes}")
        if self.ray is not None and not self.ray.strip():
            raise ConfigError("--ray needs an address: local, auto or HOST:PORT")

    def describe(self) -> str:
        """One line for a command's banner."""
        if self.ray is None:
            return f"{self.processes} worker process(es)"
        if self.ray == LOCAL:
            return f"a local Ray instance with {self.processes} CPU(s)"
        return f"the Ray cluster at {self.ray}"


def run_jobs(
    work: Callable[..., Result],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: Workers,
    shared: tuple[Any, ...] = (),
    files: Sequence[Path] = (),
) -> Generator[Result, None, None]:
    """Call ``work(*shared, *job)`` for every job; results come in the order they finish.

    :param work: a module-level function (it is sent to the workers by reference).
    :param jobs: each job's own arguments.
    :param workers: where to run them.
    :param shared: arguments common to every job: put in Ray's object store once.
    :param files: files the jobs read (a policy, weights): on Ray their bytes go into the object
        store once, and a worker node that lacks one writes it at the same path before its job.
    :return: a generator of results; closing it (or an exception, or Ctrl-C) cancels the jobs
        not yet finished.
    """
    if workers.ray is not None:
        return _on_ray(work, jobs, (FileBundle.read(files), *shared), workers)
    if workers.processes == 1:
        return (work(*shared, *job) for job in jobs)
    return _in_processes(work, jobs, shared, workers.processes)


def _in_processes(
    work: Callable[..., Result], jobs: Sequence[tuple[Any, ...]], shared: tuple, processes: int
) -> Generator[Result, None, None]:
    # 'spawn' keeps workers free of the parent's pygame and torch state.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_start_worker)
    try:
        pending: set[Future[Result]] = {pool.submit(work, *shared, *job) for job in jobs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _start_worker() -> None:
    """Workers ignore Ctrl-C (the parent decides, and cancels what has not started) and run torch on
    one thread: the parallelism is in the processes, and small policies gain nothing from threads."""
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


def run_ray_task(work: Callable[..., Result], files: FileBundle, *arguments: Any) -> Result:
    """A job inside a Ray worker (the name shows in the worker's process title, ``ray::run_ray_task``).

    :param work: the job's function.
    :param files: the run's files, written where this node lacks them.
    :param arguments: the shared arguments (resolved from the object store by Ray) and the job's.
    :return: ``work(*arguments)``.
    """
    import torch

    files.provide()
    torch.set_num_threads(1)  # as in the local pool: the same arithmetic wherever a job runs
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    return work(*arguments)


def _on_ray(
    work: Callable[..., Result], jobs: Sequence[tuple[Any, ...]], shared: tuple, workers: Workers
) -> Generator[Result, None, None]:
    ray = ray_module()
    started_here = not ray.is_initialized()
    if started_here:
        connect(workers)
    pending: list[Any] = []
    try:
        references = [ray.put(value) for value in shared]  # once per run, not once per task
        task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(run_ray_task)
        pending = [task.remote(work, *references, *job) for job in jobs]
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for reference in finished:
                yield ray.get(reference)
    finally:
        for reference in pending:
            ray.cancel(reference)
        if started_here:
            ray.shutdown()


def ray_module() -> Any:
    """Ray, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray needs Ray: pip install 'drive-stack[cluster]' (or pip install ray)"
        ) from None
    return ray


def connect(workers: Workers) -> None:
    """Start Ray for ``--ray local``, or join the cluster at ``workers.ray``.

    :param workers: ``ray`` is ``"local"``, ``"auto"`` or ``HOST:PORT``.
    """
    ray = ray_module()
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if workers.ray is not None and workers.ray not in (LOCAL, "auto"):
        _check_reachable(workers.ray)
    try:
        if workers.ray == LOCAL:
            ray.init(address="local", num_cpus=workers.processes, **settings)
        else:
            ray.init(address=workers.ray, **settings)
    except ConnectionError as error:
        raise ConfigError(f"--ray {workers.ray}: no Ray cluster there ({error})") from None


def _check_reachable(address: str) -> None:
    """Refuse a ``HOST:PORT`` where nothing listens, in seconds: ``ray.init`` would retry for
    minutes before it gives up on an address with no cluster behind it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address}: expected local, auto or HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ConfigError(
            f"--ray {address}: no Ray cluster answers there within {CONNECT_TIMEOUT_S:g} s ({error})"
        ) from None


IN_PROCESS = Workers()
"""Every job in this process, one after the other (a default for library calls)."""
TWO_PROCESSES = Workers(2)
"""Two local worker processes: this machine's cores (the benchmarks' default)."""
