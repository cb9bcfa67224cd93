"""The planning observation for ``B`` scenes of the batched engine.

:func:`encode_batch` reads the engine's straight road (lanes by index, heading 0) into
:class:`~planning.rl.encoding.Observed` and encodes it with
:func:`~planning.rl.encoding.encode_observed`, the function that encodes every perceived scene.
"""

from __future__ import annotations

import torch
from torch import Tensor

from planning.rl.encoding import Observed, encode_observed
from sims.batched.neighbours import LANE_WIDTH_M
from sims.batched.state import BatchConfig, BatchState


def encode_batch(
    state: BatchState, config: BatchConfig, cruise_mps: Tensor, changing_direction: Tensor
) -> Tensor:
    """:func:`~planning.rl.encoding.encode` for ``B`` scenes of the straight road (heading 0).

    :return: ``(B, 1 + VEHICLES, FEATURES)`` in the state's dtype.
    """
    x, y = state.x_m, state.y_m
    lane = state.lane[:, 0]
    # Ground truth lists the ego's lane and its neighbours only: the position is -1 in the leftmost
    # lane, 1 in the rightmost and 0 in between.
    low, high = (lane - 1).clamp(min=0), (lane + 1).clamp(max=config.lanes - 1)
    position = torch.where(
        high == low, 0.0, 2 * (lane - low).to(x.dtype) / (high - low).clamp(min=1) - 1
    )
    observed = Observed(
        lane_position=position,
        lane_offset_m=y[:, 0] - lane.to(x.dtype) * LANE_WIDTH_M,
        lanes_beside=(lane > 0).to(x.dtype) - (lane < config.lanes - 1).to(x.dtype),
        lane_heading_rad=torch.zeros_like(x[:, 0]),
        ego_x_m=x[:, 0],
        ego_y_m=y[:, 0],
        ego_speed_mps=state.speed_mps[:, 0],
        ego_heading_rad=state.heading_rad[:, 0],
        x_m=x[:, 1:],
        y_m=y[:, 1:],
        speed_mps=state.speed_mps[:, 1:],
        heading_rad=state.heading_rad[:, 1:],
        present=torch.ones_like(x[:, 1:], dtype=torch.bool),
    )
    return encode_observed(observed, cruise_mps, changing_direction)
