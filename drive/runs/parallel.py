"""Run independent episodes over worker processes, yielding results as they finish."""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

Result = TypeVar("Result")


def run_in_processes(
    work: Callable[..., Result], jobs: Sequence[tuple[Any, ...]], *, workers: int
) -> Generator[Result, None, None]:
    """Call ``work(*job)`` for every job, in this process if ``workers`` is 1, else in a pool.

    Results come in the order they finish. On an exception or Ctrl-C the jobs not yet started are
    cancelled and the exception propagates.
    """
    if workers == 1:
        for job in jobs:
            yield work(*job)
        return
    # 'spawn' keeps workers free of the parent's pygame and torch state.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker)
    try:
        pending: set[Future[Result]] = {pool.submit(work, *job) for job in jobs}
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
