"""Perception implementations by name."""

from __future__ import annotations

from perception.base import Perceiver
from perception.camera import CnnPerceiver
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
