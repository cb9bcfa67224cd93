"""The planning observation for ``B`` scenes of the batched engine, computed in torch.

:func:`encode_batch` is :func:`~planning.rl.encoding.encode` of the ground truth, for the straight
road of highway-v0; the test checks the two against each other on highway-env's own scenes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from planning.rl.encoding import (
    DISTANCE_SCALE_M,
    FEATURES,
    LATERAL_SCALE_M,
    RANGE_M,
    RELATIVE_SPEED_SCALE_MPS,
    SPEED_SCALE_MPS,
    VEHICLES,
)
from sims.batched.neighbours import LANE_WIDTH_M
from sims.batched.state import BatchConfig, BatchState


def encode_batch(
    state: BatchState, config: BatchConfig, cruise_mps: Tensor, changing_direction: Tensor
) -> Tensor:
    """:func:`~planning.rl.encoding.encode` for ``B`` scenes of the straight road (heading 0).

    :return: ``(B, 1 + VEHICLES, FEATURES)``.
    """
    x, y = state.x_m, state.y_m
    lane = state.lane[:, 0]
    # Ground truth lists the ego's lane and its neighbours only: the position is -1 in the leftmost
    # lane, 1 in the rightmost and 0 in between.
    low, high = (lane - 1).clamp(min=0), (lane + 1).clamp(max=config.lanes - 1)
    position = torch.where(
        high == low, 0.0, 2 * (lane - low).to(x.dtype) / (high - low).clamp(min=1) - 1
    )
    ego = torch.stack(
        [
            torch.ones_like(x[:, 0]),
            position,
            (y[:, 0] - lane.to(x.dtype) * LANE_WIDTH_M) / LATERAL_SCALE_M,
            state.speed_mps[:, 0] / SPEED_SCALE_MPS,
            cruise_mps.to(x.dtype) / SPEED_SCALE_MPS,
            changing_direction.to(x.dtype),
            (lane > 0).to(x.dtype) - (lane < config.lanes - 1).to(x.dtype),
        ],
        dim=-1,
    )
    vx = state.speed_mps * torch.cos(state.heading_rad)
    vy = state.speed_mps * torch.sin(state.heading_rad)
    dx, dy = x[:, 1:] - x[:, :1], y[:, 1:] - y[:, :1]
    distance = torch.sqrt(dx * dx + dy * dy)
    distance = torch.where(distance > RANGE_M, torch.inf, distance)
    count = min(VEHICLES, distance.shape[1])
    nearest_distance, nearest = torch.topk(distance, count, dim=1, largest=False, sorted=True)
    present = torch.isfinite(nearest_distance)
    others = 1 + nearest
    heading = state.heading_rad.gather(1, others)
    rows = torch.stack(
        [
            torch.ones_like(nearest_distance),
            dx.gather(1, nearest) / DISTANCE_SCALE_M,
            dy.gather(1, nearest) / LATERAL_SCALE_M,
            (vx.gather(1, others) - vx[:, :1]) / RELATIVE_SPEED_SCALE_MPS,
            (vy.gather(1, others) - vy[:, :1]) / RELATIVE_SPEED_SCALE_MPS,
            torch.cos(heading),
            torch.sin(heading),
        ],
        dim=-1,
    )
    rows = torch.where(present[..., None], rows, 0.0)
    missing = VEHICLES - count
    if missing > 0:
        rows = torch.cat([rows, rows.new_zeros(x.shape[0], missing, FEATURES)], dim=1)
    return torch.cat([ego[:, None, :], rows], dim=1)
