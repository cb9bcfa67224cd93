"""``drive dataset``: drive episodes with the stack and keep rendered frame stacks with their labels.

The ego is driven by the rule planner and the MPC on ground truth, so the frames show the traffic a
driving ego meets; every ``sample_every_steps`` steps (once the stack has filled), the last
``stack`` frames and the labels of the last one become a sample (:mod:`sims.dataset`). Any road
of the scenarios will do; off the straight highway the lane labels are left out. The dataset's
``min_turn_deg`` keeps only the stacks whose first frame shows a vehicle turned that much from the
ego's heading (those stacks alone are rendered). Its ``variation`` draws, per episode, how its
frames are drawn (:mod:`sims.render_variation`) from a generator seeded by the episode's seed and
the scenario (:func:`episode_generator`), so a resumed or repeated run draws the same, and the same
seeds on two roads draw differently.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import numpy as np

from drive.episode.stack import Stack, StackSpec
from sims.dataset import DatasetConfig, ShardStore, label, scene_rows, shows_turned
from sims.env import SimEnv
from sims.parallel import IN_PROCESS, Workers, run_jobs
from sims.render_variation import RenderVariation, variation_ranges
from sims.scenario import load_scenario
from sims.strict import ConfigError

STRAIGHT_ENVS = ("highway-v0", "highway-fast-v0")  # lane indices count lanes from the left
VARIATION_SALT = 31  # the episode generator's first seed word, beside the episode's seed
DRIVER = StackSpec(perception="groundtruth", planner="rules", controller="mpc")


def episode_samples(config: DatasetConfig, seed: int) -> list[dict[str, np.ndarray]]:
    """Drive the episode ``seed`` and return its samples.

    Only the frames a sample uses are rendered (rendering costs more than the rest of a step).
    """
    frames = config.frames
    reach = (
        frames.stack - 1
    ) * frames.stride_steps  # steps between a sample's first and last frame
    rng = episode_generator(config.scenario, seed)
    variation = RenderVariation.draw(variation_ranges(config.variation), rng)
    scenario = load_scenario(config.scenario)
    view = replace(frames, scaling_px_per_m=frames.scaling_px_per_m * variation.zoom).view()
    sim = SimEnv(scenario, view=view)
    straight = scenario.env in STRAIGHT_ENVS
    stack = Stack.build(DRIVER, dt_s=sim.dt_s, plant=scenario.plant)
    stack.reset()
    samples: list[dict[str, np.ndarray]] = []
    pending: list[np.ndarray] = []
    scenes: list[np.ndarray] = []
    wanted = True  # whether the stack under way is rendered (decided at its first frame)
    try:
        try:
            frame = sim.reset(seed=seed)
        except ConfigError:
            # The scenario's scripted event cannot be placed on this seed's road (a cut-in from
            # a lane that is not there): the episode gives no samples, and its shard records none.
            return samples
        for step_index in itertools.count():
            until_sample = -step_index % config.sample_every_steps
            if until_sample == reach:
                wanted = shows_turned(
                    frame.truth, frames, min_turn_deg=config.min_turn_deg, zoom=variation.zoom
                )
            if wanted and until_sample <= reach and until_sample % frames.stride_steps == 0:
                road = sim.highway_env.road
                variation.paint(road.vehicles, sim.highway_env.vehicle)
                pending.append(variation.apply(sim.render(), rng))
                scenes.append(scene_rows(frame.truth, frames))
            if until_sample == 0:
                if len(pending) == frames.stack:
                    samples.append(
                        {
                            "images": np.stack(pending),
                            **label(frame.truth, frames, zoom=variation.zoom, straight=straight),
                            "scene": np.stack(scenes),
                            "lanes": np.int64(lane_count(sim)),
                        }
                    )
                pending, scenes = [], []
            command = stack.command(frame)
            step = sim.step(
                acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
            )
            frame = step.frame
            if step.terminated or step.truncated:
                break
    finally:
        sim.close()
    return samples


def episode_generator(scenario: str, seed: int) -> np.random.Generator:
    """The generator of an episode's render variation and pixel noise.

    Seeded by the scenario's name too: datasets of every road use the same seeds, and seeded by
    the episode alone, episode 1000 of every road drew the same zoom, colours and light.

    :param scenario: the scenario id.
    :param seed: the episode's seed.
    """
    return np.random.default_rng([VARIATION_SALT, seed, zlib.crc32(scenario.encode())])


def lane_count(sim: SimEnv) -> int:
    """The number of lanes of the road the ego drives on (side by side, all of them)."""
    env = sim.highway_env
    return len(env.road.network.all_side_lanes(env.vehicle.lane_index))


def generate(
    config: DatasetConfig,
    out: Path,
    *,
    on_episode: Callable[[int], None] | None = None,
    workers: Workers = IN_PROCESS,
) -> ShardStore:
    """Write the dataset's missing shards to ``out``; call ``on_episode(seed)`` after each episode.

    :param config: the dataset.
    :param out: its folder (shards already there are kept).
    :param on_episode: called in this process as each episode finishes.
    :param workers: where the episodes run (processes or Ray); a shard is written once all its
        episodes are back, its samples in seed order, whichever worker drove them.
    :return: the dataset's store.
    """
    load_scenario(config.scenario)  # an unknown scenario is refused before any folder is made
    store = ShardStore(out, config)
    missing: dict[int, list[int]] = {}
    for shard in range(config.shards):
        if store.done(shard):
            for seed in config.shard_seeds(shard):
                if on_episode is not None:
                    on_episode(seed)
        else:
            missing[shard] = list(config.shard_seeds(shard))
    shard_of = {seed: shard for shard, seeds in missing.items() for seed in seeds}
    finished: dict[int, list[dict[str, np.ndarray]]] = {}
    jobs = [(seed,) for seeds in missing.values() for seed in seeds]
    with closing(run_jobs(_numbered_samples, jobs, workers=workers, shared=(config,))) as results:
        for seed, samples in results:
            finished[seed] = samples
            if on_episode is not None:
                on_episode(seed)
            seeds = missing[shard_of[seed]]
            if all(s in finished for s in seeds):
                ordered = [sample for s in seeds for sample in finished.pop(s)]
                store.write(shard_of[seed], ordered, config.shard_seeds(shard_of[seed]))
    return store


def _numbered_samples(config: DatasetConfig, seed: int) -> tuple[int, list[dict[str, np.ndarray]]]:
    return seed, episode_samples(config, seed)
