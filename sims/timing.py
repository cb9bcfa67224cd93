"""Wall-clock accounting of a stage's calls, kept apart from results (timings never enter metrics)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class StageClock:
    """Counts calls of a stage and the wall-clock seconds they took."""

    calls: int = 0
    total_s: float = 0.0

    @contextmanager
    def measure(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.total_s += time.perf_counter() - start
            self.calls += 1

    @property
    def mean_ms(self) -> float:
        """Mean wall-clock time per call [ms]."""
        return 1000.0 * self.total_s / self.calls if self.calls else 0.0
