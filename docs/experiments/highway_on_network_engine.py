"""highway-v0 through the road-network engine against the highway engine, in one run: policy steps
per second of each, eager, float32, on the same scenes (16 highway-env scenes, tiled to the batch)
under the same random continuous actions; simulation only (no observation or reward).

    python docs/experiments/highway_on_network_engine.py [--batch 256] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields

import torch

from sims.batched import roads
from sims.batched.network import from_highway_env as network_scene
from sims.batched.network_fidelity import config_of, make_environment, reset, simulate
from sims.batched.state import BatchConfig
from sims.batched.state import from_highway_env as highway_scene
from sims.batched.task import BatchedHighway
from sims.machine import machine_description


def tiled(state, batch):
    index = torch.arange(batch) % state.x_m.shape[0]
    return type(state)(**{item.name: getattr(state, item.name)[index] for item in fields(state)})


def rate(step, batch: int, seconds: float) -> float:
    generator = torch.Generator().manual_seed(0)
    step(torch.rand(batch, 2, generator=generator) * 2 - 1)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(torch.rand(batch, 2, generator=generator) * 2 - 1)
        count += batch
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    envs = []
    for seed in range(16):
        env = make_environment("highway-v0", "continuous")
        reset(env, seed)
        envs.append(env)
    road = roads.from_network(envs[0].unwrapped.road.network)
    config = config_of(envs[0], "continuous")
    network = tiled(network_scene(envs, road, dtype=torch.float32), arguments.batch)
    road32 = road.to("cpu", torch.float32)
    highway_config = BatchConfig()
    highway = BatchedHighway(arguments.batch, highway_config, dtype=torch.float32)
    highway.state = tiled(
        highway_scene(envs, highway_config, device=torch.device("cpu"), dtype=torch.float32),
        arguments.batch,
    )
    highway_rate = rate(highway.simulate, arguments.batch, arguments.seconds)
    network_rate = rate(
        lambda action: simulate(network, road32, config, action), arguments.batch, arguments.seconds
    )
    print(
        json.dumps(
            {
                "machine": machine_description(),
                "torch_threads": torch.get_num_threads(),
                "batch": arguments.batch,
                "highway_engine_steps_per_s": round(highway_rate, 1),
                "network_engine_steps_per_s": round(network_rate, 1),
                "network_over_highway": round(network_rate / highway_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
