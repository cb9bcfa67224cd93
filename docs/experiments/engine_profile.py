"""Where the road engine's time goes (issue 29): cProfile over eager policy steps of one road, with
the process's minor page faults and system time over the same steps.

The engine runs in float32 with random continuous actions, after 5 warm-up steps, as
``drive bench sim`` times it but eager (cProfile cannot see into compiled graphs); the profile
prints the functions with the largest cumulative time.

Usage: python docs/experiments/engine_profile.py ROAD-v0 BATCH STEPS
"""

from __future__ import annotations

import cProfile
import pstats
import resource
import sys
import time

import torch

from sims.batched.network_task import BatchedRoads


def main(env_id: str, batch: int, steps: int) -> None:
    torch.set_num_threads(2)
    engine = BatchedRoads(env_id, batch, device="cpu", dtype=torch.float32, compiled=False)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        engine.step(torch.rand(batch, 2, generator=generator) * 2 - 1)

    for _ in range(5):
        step()
    profile = cProfile.Profile()
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    profile.enable()
    for _ in range(steps):
        step()
    profile.disable()
    after, wall_s = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    print(
        f"{env_id}, {batch} environments, {steps} eager steps: {steps * batch / wall_s:.0f} steps/s "
        f"under cProfile; {after.ru_minflt - before.ru_minflt} minor page faults, "
        f"{after.ru_stime - before.ru_stime:.1f} s system and "
        f"{after.ru_utime - before.ru_utime:.1f} s user time in {wall_s:.1f} s"
    )
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
