"""``drive bench sim``: policy steps per second of highway-env, EnvPool and the batched engine, and
the batched engine's fidelity to highway-env, in one run on one machine.

Every simulator runs highway-v0 (4 lanes, 50 vehicles, 15 simulation steps per policy step) under a
random policy. A "step" is one policy step of one environment, so a batch of 1024 environments
stepping once is 1024 steps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sims.batched import fidelity
from sims.batched.state import BatchConfig
from sims.batched.task import BatchedHighway
from sims.machine import machine_description
from sims.parallel import TWO_PROCESSES, Workers
from sims.provenance import provenance

BATCHES = (1, 64, 1024, 16384)
MEASURE_S = 5.0  # [s] each throughput figure is timed over at least this long
WARM_UP_STEPS = 3  # policy steps before timing: compiling, and shapes first met after a reset
ENVPOOL_ENVS = (1, 2, 8)


def _rate(step: Callable[[], int], seconds: float) -> float:
    """Steps per second of ``step`` (which returns how many steps it took), after one warm-up call."""
    return _timed_rate(step, seconds)[0]


def _timed_rate(
    step: Callable[[], int], seconds: float, warm_up_calls: int = 1
) -> tuple[float, float]:
    """Steps per second of ``step`` after ``warm_up_calls``, and how long the warm-up took [s]."""
    start = time.perf_counter()
    for _ in range(warm_up_calls):
        step()
    warm_up = time.perf_counter() - start
    steps, start = 0, time.perf_counter()
    while True:
        steps += step()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed, warm_up


def highway_env_rate(seconds: float = MEASURE_S) -> float:
    """highway-env itself, unmodified, with random meta-actions; episodes restart when they end."""
    env = fidelity.make_highway_env("meta")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(fidelity.META_ACTIONS)))
        if terminated or truncated:
            env.reset()
        return 1

    return _rate(step, seconds)


def envpool_rate(seconds: float = MEASURE_S) -> dict[str, Any] | None:
    """EnvPool's C++ Highway-v0, when installed: the best rate over a few numbers of environments."""
    try:
        import envpool
    except ImportError:
        return None
    best: dict[str, Any] | None = None
    for count in ENVPOOL_ENVS:
        env = envpool.make("Highway-v0", env_type="gymnasium", num_envs=count, batch_size=count)
        env.reset()
        generator = np.random.default_rng(0)

        def step(env: Any = env, count: int = count, rng: np.random.Generator = generator) -> int:
            env.step(rng.integers(fidelity.META_ACTIONS, size=count))
            return count

        rate = _rate(step, seconds)
        if best is None or rate > best["steps_per_s"]:
            best = {"steps_per_s": rate, "num_envs": count, "version": envpool.__version__}
    return best


def batched_rate(
    batch: int, device: str, seconds: float = MEASURE_S, *, compiled: bool = False
) -> tuple[float, float]:
    """The batched engine in float32 with random continuous actions; resets included.

    :return: steps per second, and the warm-up's time [s] (with ``compiled``, the compilation).
    """
    engine = BatchedHighway(
        batch, BatchConfig(), device=device, dtype=torch.float32, compiled=compiled
    )
    return engine_rate(engine.step, batch, engine.device, seconds)


def engine_rate(
    step: Callable[[Tensor], Any], batch: int, device: torch.device, seconds: float
) -> tuple[float, float]:
    """Steps per second of a batched task's ``step`` under random continuous actions, after
    :data:`WARM_UP_STEPS` policy steps; and how long those took [s]."""
    generator = torch.Generator(device=device).manual_seed(0)

    def timed() -> int:
        step(torch.rand(batch, 2, generator=generator, device=device) * 2 - 1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return batch

    return _timed_rate(timed, seconds, WARM_UP_STEPS)


def engine_rows(
    rate: Callable[[int, str, bool], tuple[float, float]],
    runs: list[tuple[str, int, bool]],
    on_run: Callable[[str], None],
) -> list[dict[str, Any]]:
    """One row per (device, batch, compiled) run of ``rate`` (steps per second and warm-up)."""
    rows = []
    for device, batch, compiled in runs:
        on_run(f"{device}, {'compiled' if compiled else 'eager'}, B={batch}")
        steps_per_s, warm_up_s = rate(batch, device, compiled)
        name = torch.cuda.get_device_name() if device == "cuda" else f"{os.cpu_count()} CPUs"
        rows.append(
            {
                "device": device,
                "device_name": name,
                "batch": batch,
                "compiled": compiled,
                "steps_per_s": steps_per_s,
                "warm_up_s": warm_up_s,
            }
        )
    return rows


COMPILED_FROM_BATCH = 1024  # smaller batches are dominated by per-call overhead, not arithmetic


def _engine_runs(batches: tuple[int, ...], compiled: bool) -> list[tuple[str, int, bool]]:
    """(device, batch, compiled) of every engine figure: eager at every batch size on the CPU, and
    compiled from :data:`COMPILED_FROM_BATCH` up unless ``compiled`` is off; on CUDA, when
    present, eager (torch.compile's GPU path needs Triton and has not been measured)."""
    runs = [("cpu", batch, False) for batch in batches]
    runs += [("cpu", batch, True) for batch in batches if compiled and batch >= COMPILED_FROM_BATCH]
    if torch.cuda.is_available():
        runs += [("cuda", batch, False) for batch in batches]
    return runs


def run_sim_bench(
    *,
    batches: tuple[int, ...] = BATCHES,
    fidelity_episodes: int = 100,
    workers: Workers = TWO_PROCESSES,
    seconds: float = MEASURE_S,
    compile_engine: bool = True,
    on_stage: Callable[[str], None] = lambda stage: None,
    on_episode: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Measure everything ``drive bench sim`` reports; see the module docstring."""
    on_stage("highway-env")
    highway = highway_env_rate(seconds)
    on_stage("EnvPool")
    pool = envpool_rate(seconds)
    batched = engine_rows(
        lambda batch, device, compiled: batched_rate(batch, device, seconds, compiled=compiled),
        _engine_runs(batches, compile_engine),
        lambda run: on_stage(f"batched engine, {run}"),
    )
    seeds = list(range(fidelity_episodes))
    on_stage(f"fidelity: {fidelity_episodes} trajectories")
    trajectories = fidelity.compare_trajectories(seeds, workers=workers, on_done=on_episode)
    on_stage(f"fidelity: {fidelity_episodes} random-policy episodes")
    statistics = fidelity.random_policy_statistics(
        [1000 + seed for seed in seeds],
        batched_episodes_count=20
        * fidelity_episodes,  # the engine's side is cheap: a tight interval
        workers=workers,
        on_done=on_episode,
    )
    best_cpu = max(row["steps_per_s"] for row in batched if row["device"] == "cpu")
    return {
        "machine": machine_description(),
        "provenance": provenance(),
        "torch_threads": torch.get_num_threads(),
        "highway_env_steps_per_s": highway,
        "envpool_steps_per_s": None if pool is None else pool["steps_per_s"],
        "envpool": pool,
        "batched": batched,
        "best_cpu_over_highway_env": best_cpu / highway,
        "best_cpu_over_envpool": None if pool is None else best_cpu / pool["steps_per_s"],
        "fidelity": {
            "trajectories": fidelity.trajectory_summary(trajectories),
            "episodes_within_tolerance": sum(c.within_tolerance for c in trajectories),
            "random_policy": statistics,
        },
    }
