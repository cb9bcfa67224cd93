"""The ego's commands, shared by both engines: highway-env's ``ContinuousAction`` and
``MDPVehicle``'s target speeds, and where the ego's command replaces the traffic's."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sims.batched import physics
from sims.constants import STEERING_LIMIT_RAD

ACCELERATION_RANGE_MPS2 = (-5.0, 5.0)  # highway-env's ContinuousAction
STEERING_RANGE_RAD = (-STEERING_LIMIT_RAD, STEERING_LIMIT_RAD)


def continuous_command(action: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``ContinuousAction``: ``(B, 2)`` actions in [-1, 1] as the ego's acceleration [m/s2] and
    steering [rad]."""
    action = action.to(dtype).clamp(-1, 1)
    low, high = ACCELERATION_RANGE_MPS2
    acceleration = low + (action[:, 0] + 1) * (high - low) / 2
    low, high = STEERING_RANGE_RAD
    return acceleration, low + (action[:, 1] + 1) * (high - low) / 2


def meta_target_speed_mps(
    action: Tensor,
    speed_mps: Tensor,
    target_speed_mps: Tensor,
    speeds: tuple[float, ...],
    *,
    snap: bool = False,
) -> Tensor:
    """``MDPVehicle.act``'s FASTER (3) and SLOWER (4): one of ``speeds`` up or down from the one
    closest to the current speed; other actions keep the target speed. With ``snap``, every
    action takes the one closest to ``speed_mps`` (``MDPVehicle.__init__``)."""
    table = torch.tensor(speeds, device=speed_mps.device, dtype=speed_mps.dtype)
    fraction = (speed_mps - table[0]) / (table[-1] - table[0])
    index = torch.round(fraction * (len(table) - 1)).clamp(0, len(table) - 1).long()
    index = index + (action == 3).long() - (action == 4).long()
    index = index.clamp(0, len(table) - 1)
    changes_speed = (action == 3) | (action == 4) | snap
    return torch.where(changes_speed, table[index], target_speed_mps)


def with_ego_commands(
    ego_control: str, ego: Tensor, steering: Tensor, acceleration: Tensor, state: Any
) -> tuple[Tensor, Tensor]:
    """Every vehicle's steering [rad] and acceleration [m/s2] with the ego's (rows ``ego``) set by
    its controller: the held action under continuous control, ``ControlledVehicle.speed_control``
    under meta-actions; an ego that follows keeps the traffic's commands.

    :param state: either engine's state (its held action, target speeds and speeds).
    """
    if ego_control == "continuous":
        steering = torch.where(ego, state.ego_steering_rad[:, None], steering)
        acceleration = torch.where(ego, state.ego_acceleration_mps2[:, None], acceleration)
    elif ego_control == "meta":
        ego_acceleration = physics.speed_control_mps2(state.target_speed_mps, state.speed_mps)
        acceleration = torch.where(ego, ego_acceleration, acceleration)
    return steering, acceleration
