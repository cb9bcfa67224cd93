"""Elementwise operations for code written once for floats, numpy arrays and torch tensors.

The rules shared by the highway-env path (one scene, Python floats) and the batched engine (torch
tensors) call these where Python, numpy and torch spell an operation differently. For floats they
are Python's own ``max`` and ``min``, so the scalar path computes exactly what it always did.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def at_least(value: Any, floor: float) -> Any:
    """``value``, raised to ``floor`` where it is below it."""
    if isinstance(value, torch.Tensor):
        return value.clamp(min=floor)
    if isinstance(value, np.ndarray):
        return np.maximum(value, floor)
    return max(value, floor)


def smaller(first: Any, second: Any) -> Any:
    """The elementwise smaller of ``first`` and ``second``."""
    if isinstance(first, torch.Tensor) or isinstance(second, torch.Tensor):
        return torch.minimum(torch.as_tensor(first), torch.as_tensor(second))
    if isinstance(first, np.ndarray) or isinstance(second, np.ndarray):
        return np.minimum(first, second)
    return min(first, second)
