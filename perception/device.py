"""The ``--device auto`` rule of every neural module: CUDA when present, else the CPU."""

from __future__ import annotations

import torch

from sims.strict import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``auto`` is CUDA when present, else the CPU; ``cpu`` and ``cuda`` are taken as asked.

    :raises ConfigError: for any other name, or ``cuda`` on a machine without it.
    """
    if device not in DEVICES:
        raise ConfigError(f"unknown device '{device}'; valid: {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but this machine has no CUDA device")
    return device
