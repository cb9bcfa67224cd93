"""Perception implementations by name."""

from __future__ import annotations

from pathlib import Path

from perception.base import Perceiver
from perception.camera import SHIPPED_WEIGHTS, CnnPerceiver
from perception.ground_truth_perceiver import GroundTruthPerceiver
from sims.strict import ConfigError

PERCEIVERS: dict[str, type[Perceiver]] = {
    "groundtruth": GroundTruthPerceiver,
    "cnn": CnnPerceiver,  # the shipped CNN + spatial transformer, from rendered frames
}


def make_perceiver(name: str) -> Perceiver:
    """Build the perceiver registered as ``name``; raise :class:`ConfigError` (a ``ValueError``) listing valid names."""
    if name not in PERCEIVERS:
        raise ConfigError(f"unknown perception '{name}'; valid: {', '.join(PERCEIVERS)}")
    return PERCEIVERS[name]()


# The weights each registered perceiver loads; ground truth loads none.
WEIGHTS_FOLDERS: dict[str, Path] = {"cnn": SHIPPED_WEIGHTS}


def perceiver_files(name: str) -> tuple[Path, ...]:
    """The weights and card the perceiver ``name`` loads, for a result's provenance."""
    folder = WEIGHTS_FOLDERS.get(name)
    return () if folder is None else (folder / "best.safetensors", folder / "card.json")
