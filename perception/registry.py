"""Perception implementations by name."""

from __future__ import annotations

from perception.base import Perceiver
from perception.groundtruth import GroundTruthPerceiver
from sims.strict import ConfigError

PERCEIVERS: dict[str, type[Perceiver]] = {
    "groundtruth": GroundTruthPerceiver,
}


def make_perceiver(name: str) -> Perceiver:
    """Build the perceiver registered as ``name``; raise :class:`ConfigError` (a ``ValueError``) listing valid names."""
    if name not in PERCEIVERS:
        raise ConfigError(f"unknown perception '{name}'; valid: {', '.join(PERCEIVERS)}")
    return PERCEIVERS[name]()
