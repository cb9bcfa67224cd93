"""Elementwise operations for code written once for floats, numpy arrays and torch tensors.

The rules shared by the highway-env path (one scene, Python floats) and the batched engine (torch
tensors) call these where Python, numpy and torch spell an operation differently. For floats they
are Python's own ``max`` and ``min``, so the scalar path computes exactly what it always did.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


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


def square_root(value: Any) -> Any:
    """The square root of ``value`` (``math.sqrt`` for a float)."""
    if isinstance(value, torch.Tensor):
        return torch.sqrt(value)
    if isinstance(value, np.ndarray):
        return np.sqrt(value)
    return math.sqrt(value)


def argmin_last(values: Array) -> Array:
    """The index of the smallest value along the last axis (the first of equal ones)."""
    if isinstance(values, torch.Tensor):
        return torch.argmin(values, dim=-1)
    return np.argmin(values, axis=-1)


def take_last(values: Array, index: Array) -> Array:
    """``values[..., index]`` row by row: ``values`` ``(..., K)`` read at ``index`` ``(...)``; an
    unbatched ``values`` ``(K,)`` is read at every index."""
    if isinstance(values, torch.Tensor):
        if values.dim() == 1:
            return values[index]
        return values.gather(-1, index[..., None])[..., 0]
    if values.ndim == 1:
        return values[index]
    return np.take_along_axis(values, index[..., None], axis=-1)[..., 0]


def cosine(value: Array) -> Array:
    """The cosine of an array or tensor."""
    return torch.cos(value) if isinstance(value, torch.Tensor) else np.cos(value)


def sine(value: Array) -> Array:
    """The sine of an array or tensor."""
    return torch.sin(value) if isinstance(value, torch.Tensor) else np.sin(value)


def where(condition: Any, value: Any, otherwise: Any) -> Any:
    """``value`` where ``condition`` holds, else ``otherwise``; for a single bool, the one chosen."""
    if isinstance(condition, torch.Tensor):
        return torch.where(condition, value, otherwise)
    if isinstance(condition, np.ndarray):
        return np.where(condition, value, otherwise)
    return value if condition else otherwise


def hyperbolic_tangent(value: Any) -> Any:
    """``tanh`` of a float, an array or a tensor (``math.tanh`` for a float)."""
    if isinstance(value, torch.Tensor):
        return torch.tanh(value)
    if isinstance(value, np.ndarray):
        return np.tanh(value)
    return math.tanh(value)


def max_last(values: Array) -> Array:
    """The largest value along the last axis."""
    if isinstance(values, torch.Tensor):
        return values.amax(dim=-1)
    return np.max(values, axis=-1)


def column(value: Array | float, like: Array) -> Array:
    """``value`` (a number, or one per row) as a column ``(B, 1)`` of ``like``'s kind."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(value, dtype=like.dtype, device=like.device).reshape(-1, 1)
    return np.asarray(value, dtype=like.dtype).reshape(-1, 1)
