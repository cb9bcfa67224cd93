"""``drive bench sim --env ID``: policy steps per second of highway-env and the batched engine on one
of highway-env's road networks (merge-v0, exit-v0, roundabout-v0, intersection-v0, racetrack-v0),
and the engine's fidelity there, in one run on one machine.

Both simulators run the road with highway-env's own settings (its simulation and policy frequencies,
its traffic) under a random policy: uniform meta-actions for highway-env, uniform continuous actions
for the engine (the ego's action costs nothing beside the traffic); on racetrack-v0, where
highway-env places no meta-action ego, uniform continuous actions for both. A "step" is one policy
step of one environment. EnvPool has no native port of these roads (it wraps highway-env's Python for them),
so highway-env is the baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from drive.bench.bench_sim import MEASURE_S, _engine_runs, _rate, engine_rate, engine_rows
from sims.batched import fidelity
from sims.batched.network import NetworkEgoControl
from sims.batched.network_fidelity import (
    CONTINUOUS_ONLY,
    compare_network_trajectory,
    make_environment,
    random_action,
    reset,
    road_random_policy_statistics,
)
from sims.batched.network_task import BatchedRoads
from sims.machine import machine_description
from sims.parallel import IN_PROCESS, Workers, run_jobs
from sims.provenance import provenance

ROAD_BATCHES = (1, 64, 1024, 4096)
ROADS = ("merge-v0", "exit-v0", "roundabout-v0", "intersection-v0", "racetrack-v0")


def road_highway_env_rate(env_id: str, seconds: float = MEASURE_S) -> float:
    """highway-env's ``env_id`` with random meta-actions (continuous ones on the roads of
    :data:`CONTINUOUS_ONLY`); episodes restart when they end."""
    env = make_environment(env_id, "continuous" if env_id in CONTINUOUS_ONLY else "meta")
    reset(env, 0)
    rng = np.random.default_rng(0)
    episodes = [0]

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(random_action(env, rng))
        if terminated or truncated:
            episodes[0] += 1
            reset(env, episodes[0])
        return 1

    return _rate(step, seconds)


def road_batched_rate(
    env_id: str, batch: int, device: str, seconds: float = MEASURE_S, *, compiled: bool = False
) -> tuple[float, float]:
    """The engine on ``env_id`` in float32 with random continuous actions; resets included.

    :return: steps per second, and the warm-up's time [s] (with ``compiled``, the compilation).
    """
    engine = BatchedRoads(env_id, batch, device=device, dtype=torch.float32, compiled=compiled)
    return engine_rate(engine.step, batch, engine.device, seconds)


_CONTROLS: tuple[NetworkEgoControl, NetworkEgoControl] = ("continuous", "meta")  # even, odd seeds


def _compare(env_id: str, seed: int, control: NetworkEgoControl) -> Any:
    return compare_network_trajectory(env_id, seed, ego_control=control)


def run_road_bench(
    env_id: str,
    *,
    batches: tuple[int, ...] = ROAD_BATCHES,
    fidelity_episodes: int = 100,
    seconds: float = MEASURE_S,
    compile_engine: bool = True,
    on_stage: Callable[[str], None] = lambda stage: None,
    on_episode: Callable[[], None] = lambda: None,
    workers: Workers = IN_PROCESS,
) -> dict[str, Any]:
    """Measure everything ``drive bench sim --env env_id`` reports; see the module docstring."""
    if env_id not in ROADS:
        raise ValueError(f"drive bench sim knows {('highway-v0', *ROADS)}, not {env_id!r}")
    on_stage(f"{env_id}: highway-env")
    highway = road_highway_env_rate(env_id, seconds)
    batched = engine_rows(
        lambda batch, device, compiled: road_batched_rate(
            env_id, batch, device, seconds, compiled=compiled
        ),
        _engine_runs(batches, compile_engine),
        lambda run: on_stage(f"{env_id}: batched engine, {run}"),
    )
    on_stage(f"{env_id}: fidelity, {fidelity_episodes} trajectories")
    trajectories = []
    controls = _CONTROLS[:1] if env_id in CONTINUOUS_ONLY else _CONTROLS
    jobs = [(env_id, seed, controls[seed % len(controls)]) for seed in range(fidelity_episodes)]
    for comparison in run_jobs(_compare, jobs, workers=workers):
        trajectories.append(comparison)
        on_episode()
    trajectories.sort(key=lambda comparison: comparison.seed)
    on_stage(f"{env_id}: fidelity, {fidelity_episodes} random-policy episodes")
    statistics = road_random_policy_statistics(
        env_id,
        [1000 + seed for seed in range(fidelity_episodes)],
        batched_episodes_count=20 * fidelity_episodes,
        workers=workers,
    )
    for _ in range(fidelity_episodes):
        on_episode()
    best_cpu = max(row["steps_per_s"] for row in batched if row["device"] == "cpu")
    return {
        "env": env_id,
        "provenance": provenance(),
        "machine": machine_description(),
        "torch_threads": torch.get_num_threads(),
        "highway_env_steps_per_s": highway,
        "envpool_steps_per_s": None,
        "envpool": None,
        "envpool_note": f"EnvPool has no native {env_id}",
        "batched": batched,
        "best_cpu_over_highway_env": best_cpu / highway,
        "best_cpu_over_envpool": None,
        "fidelity": {
            "trajectories": fidelity.trajectory_summary(trajectories),
            "episodes_within_tolerance": sum(c.within_tolerance for c in trajectories),
            "random_policy": statistics,
        },
    }
