"""Policy steps per second of the road engine on one road: compiled or eager, float32, random
continuous actions, resets included; 10 policy steps of warm-up (compilation included), then as
many as 20 s allow. Imports ``sims`` from the working directory's tree, so that a worktree of an
earlier commit measures that commit (``engine_before_after.sh``).

    python docs/experiments/engine_rate.py ROAD-v0 BATCH 1|0
"""

import sys
import time

import torch

from sims.batched.network_task import BatchedRoads

env, batch, compiled = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
torch.set_num_threads(2)
started = time.perf_counter()
engine = BatchedRoads(env, batch, device="cpu", dtype=torch.float32, compiled=compiled)
generator = torch.Generator().manual_seed(0)
for _ in range(10):
    engine.step(torch.rand(batch, 2, generator=generator) * 2 - 1)
warm_s = time.perf_counter() - started
start, steps = time.perf_counter(), 0
while time.perf_counter() - start < 20:
    engine.step(torch.rand(batch, 2, generator=generator) * 2 - 1)
    steps += 1
rate = steps * batch / (time.perf_counter() - start)
print(
    f"{env} B={batch} compiled={compiled}: {rate:.0f} steps/s (warm {warm_s:.0f}s, {steps} steps)"
)
