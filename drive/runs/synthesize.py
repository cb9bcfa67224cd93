"""``drive synthesize``: a perception dataset whose frames the conditional GAN drew from layouts.

Every sample of the source dataset keeps its labels and its ``scene`` records; its frames are
replaced by the cGAN's rendering of each frame's layout (:mod:`perception.layout`), so the result
trains the perception network exactly as real frames would (``drive train-perception --data``).
The layouts need only the simulator's state, so this is how states without a rendering (or with
an expensive one) become training frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch import nn

from perception.gan import generate_frames, load_cgan
from perception.layout import draw_layout
from sims.dataset import MANIFEST, DatasetConfig, FrameSpec, ShardStore
from sims.reading import read_json, refusing
from sims.strict import ConfigError


def source_config(source: Path) -> DatasetConfig:
    """The configuration the dataset in ``source`` was generated with."""
    path = source / MANIFEST
    if not path.exists():
        raise ConfigError(f"{source}: no {MANIFEST}; generate the dataset with `drive dataset`")
    document = read_json(path, "dataset manifest")
    with refusing(path, "dataset manifest"):
        config = dict(document["config"])
        config["frames"] = FrameSpec(**config["frames"])
        return DatasetConfig(**config)


def synthesize(
    source: Path,
    out: Path,
    *,
    weights: Path,
    device: str,
    on_shard: Callable[[int, int], None] | None = None,
) -> ShardStore:
    """Write ``out``: the samples of ``source`` with cGAN frames; resumes by shard.

    :param source: a dataset written by ``drive dataset`` (with ``scene`` records).
    :param out: the new dataset's folder (same configuration as ``source``).
    :param weights: the cGAN's folder.
    :param device: ``cpu`` or ``cuda``.
    :param on_shard: called with (shard, shards) after each shard.
    """
    config = source_config(source)
    generator = load_cgan(weights, device=device)
    store = ShardStore(out, config)
    manifest = read_json(source / MANIFEST, "dataset manifest")
    for entry in manifest["shards"]:
        shard = entry["shard"]
        if not store.done(shard):
            store.write(
                shard, _synthetic_samples(source, entry, generator, config, device), entry["seeds"]
            )
        if on_shard is not None:
            on_shard(shard, config.shards)
    return store


def _synthetic_samples(
    source: Path, entry: dict, generator: nn.Module, config: DatasetConfig, device: str
) -> list[dict[str, np.ndarray]]:
    """One source shard's samples with generated frames (none for a shard without samples)."""
    if entry["file"] is None:
        return []
    with (
        refusing(source / entry["file"], "dataset shard"),
        np.load(source / entry["file"]) as shard,
    ):
        data = {key: shard[key] for key in shard.files}
    if "scene" not in data:
        raise ConfigError(
            f"{source}: no 'scene' records (written by an older `drive dataset`); generate it again"
        )
    samples, stack = data["scene"].shape[:2]
    layouts = np.stack(
        [
            draw_layout(data["scene"][i, j], int(data["lanes"][i]), config.frames)
            for i in range(samples)
            for j in range(stack)
        ]
    )
    frames = generate_frames(generator, layouts, device=device)
    data["images"] = frames.reshape(samples, stack, *frames.shape[1:])
    return [{key: value[i] for key, value in data.items()} for i in range(samples)]
