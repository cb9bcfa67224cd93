"""Perception implementations by name: the built-in ones, and those installed packages register
under the ``drive_stack.perceivers`` entry point (:mod:`sims.registered`)."""

from __future__ import annotations

from pathlib import Path

from perception.base import Perceiver
from perception.camera import (
    HIGHWAY_WEIGHTS,
    SHIPPED_WEIGHTS,
    CnnPerceiver,
    HighwayTrackedCnnPerceiver,
    TrackedCnnPerceiver,
)
from perception.ground_truth_perceiver import CameraWindowOracle, GroundTruthPerceiver
from sims.registered import load_registered, registered, valid_names
from sims.strict import ConfigError

PERCEIVERS: dict[str, type[Perceiver]] = {
    "groundtruth": GroundTruthPerceiver,
    # the shipped CNN + spatial transformer, from rendered frames, with the multi-object tracker
    "cnn": TrackedCnnPerceiver,
    "cnn-untracked": CnnPerceiver,  # the same detections, each frame on its own (no tracker)
    "cnn-highway": HighwayTrackedCnnPerceiver,  # tracked, the network trained on highway-v0 only
    # exact states of the vehicles the camera's window shows: the camera's reach, no detection error
    "camera-oracle": CameraWindowOracle,
}


def perceiver_names() -> list[str]:
    """Every name :func:`make_perceiver` takes: the built-in ones, then the registered ones."""
    return [*PERCEIVERS, *registered("perception", built_in=tuple(PERCEIVERS))]


def make_perceiver(name: str) -> Perceiver:
    """Build the perceiver registered as ``name``, built in or from an installed package.

    :raises ConfigError: (a ``ValueError``) for an unknown name, listing the valid ones.
    """
    if name in PERCEIVERS:
        return PERCEIVERS[name]()
    extra = registered("perception", built_in=tuple(PERCEIVERS))
    if name in extra:
        implementation: type[Perceiver] = load_registered(
            extra[name], base=Perceiver, kind="perception"
        )
        return implementation()
    raise ConfigError(
        f"unknown perception '{name}'; valid: {valid_names(tuple(PERCEIVERS), extra)}"
    )


# The weights each registered perceiver loads; ground truth loads none.
WEIGHTS_FOLDERS: dict[str, Path] = {
    "cnn": SHIPPED_WEIGHTS,
    "cnn-untracked": SHIPPED_WEIGHTS,
    "cnn-highway": HIGHWAY_WEIGHTS,
}


def perceiver_files(name: str) -> tuple[Path, ...]:
    """The weights and card the perceiver ``name`` loads, for a result's provenance."""
    folder = WEIGHTS_FOLDERS.get(name)
    return () if folder is None else (folder / "best.safetensors", folder / "card.json")
