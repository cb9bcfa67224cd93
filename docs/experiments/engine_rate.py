"""Policy steps per second of the road engine on one road, as ``drive bench sim`` times it
(:func:`drive.bench.bench_roads.road_batched_rate`: float32, random continuous actions, resets
included, after a warm-up), over 20 s; ``straight``: highway-v0 on the straight-road engine
(:func:`drive.bench.bench_sim.batched_rate`). Imports the code of the working directory's tree, so
that a worktree of an earlier commit measures that commit (``engine_before_after.sh``).

    python docs/experiments/engine_rate.py ROAD-v0|straight BATCH 1|0
"""

import sys

import torch

from drive.bench.bench_roads import road_batched_rate
from drive.bench.bench_sim import batched_rate

env, batch, compiled = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
torch.set_num_threads(2)
if env == "straight":
    rate, warm_up_s = batched_rate(batch, "cpu", 20.0, compiled=compiled)
else:
    rate, warm_up_s = road_batched_rate(env, batch, "cpu", 20.0, compiled=compiled)
print(f"{env} B={batch} compiled={compiled}: {rate:.0f} steps/s (warm {warm_up_s:.0f}s)")
