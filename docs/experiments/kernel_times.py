"""Where the compiled road engine's time goes, in place (issue 29): wall time around each compiled
kernel of a simulation step and around the eager functions that gather for the few rows concerned,
summed over policy steps of one road. A kernel timed alone, on a fixed state, can mislead: the
lane table of results.md was 1.24 times faster so and slower in the running engine.

Times nest (``act`` holds ``own_lane``, ``mobil``...; ``step`` holds ``_collide``...). float32,
random continuous actions, 8 warm-up policy steps (the compilation), torch with 2 threads.

    python docs/experiments/kernel_times.py ROAD-v0 BATCH [STEPS]
"""

from __future__ import annotations

import collections
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import torch

from sims.batched import network_decide, network_step, regulation
from sims.batched.network_task import BatchedRoads

totals: collections.Counter[str] = collections.Counter()


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = function(*args, **kwargs)
        totals[name] += time.perf_counter() - started
        return result

    return call


def main(env_id: str, batch: int, steps: int) -> None:
    torch.set_num_threads(2)
    compiled = network_step.kernels(True)
    wrapped = network_step.Kernels(
        **{item.name: timed(item.name, getattr(compiled, item.name)) for item in fields(compiled)}
    )
    network_step.kernels = lambda compiled=False: wrapped  # type: ignore[assignment]
    eager = {
        network_decide: ("mobil", "abort"),
        network_step: ("follow_road", "_collide", "act", "step"),
        regulation: ("regulate",),
    }
    for module, names in eager.items():
        for name in names:
            setattr(module, name, timed(name, getattr(module, name)))
    engine = BatchedRoads(env_id, batch, dtype=torch.float32, compiled=True)
    generator = torch.Generator().manual_seed(0)
    axes = sum(engine.action_axes)
    for _ in range(8):
        engine.step(torch.rand(batch, axes, generator=generator) * 2 - 1)
    totals.clear()
    started = time.perf_counter()
    for _ in range(steps):
        engine.step(torch.rand(batch, axes, generator=generator) * 2 - 1)
    wall_s = time.perf_counter() - started
    print(f"{env_id}, {batch} scenes: {steps * batch / wall_s:.0f} policy steps/s")
    print(f"  {'policy step':20s} {wall_s / steps * 1000:8.1f} ms")
    for name, seconds in totals.most_common():
        print(f"  {name:20s} {seconds / steps * 1000:8.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 6)
