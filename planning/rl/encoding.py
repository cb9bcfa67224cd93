"""The policy's observation: the ego and its nearest vehicles, relative, in the ego lane's frame.

Row 0 describes the ego; rows 1..:data:`VEHICLES` describe the nearest other vehicles within
:data:`RANGE_M`, nearest first, and are zero (``presence`` 0) where there are fewer. Features are scaled
to about [-1, 1]. The ego-attention extractor treats rows 1.. as a set (their order does not matter);
the MLP extractor sees them flattened, nearest first.

The observation is computed once, in torch, by :func:`encode_observed` for ``B`` scenes. Its callers
differ only in how they read the road: :func:`encode` reads one perceived scene (Frenet coordinates
on the ego lane's centreline) and calls it with a batch of one; the batched engine's
:func:`~planning.rl.batched_encoding.encode_batch` reads lane indices on its straight road.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from perception.base import SceneState
from planning.conflict import first_conflict_gap_m, max_curvature
from planning.rl.executor import MAX_CRUISE_MPS
from planning.rules import RulesConfig
from sims.frenet import to_frenet

VEHICLES = 10  # the nearest vehicles observed
RANGE_M = 120.0  # [m] vehicles farther than this are not observed
FEATURES = 7
DISTANCE_SCALE_M = 100.0  # [m]
LATERAL_SCALE_M = 12.0  # [m] three lane widths
SPEED_SCALE_MPS = MAX_CRUISE_MPS  # [m/s]
RELATIVE_SPEED_SCALE_MPS = 20.0  # [m/s]

# With the road interface (planning.rl.interface), every row has ROAD_FEATURES more columns, zero in
# the vehicles' rows; in row 0: the gap to the first conflict with crossing traffic (1 if none), the
# curvature ahead and the speed limit (road_features).
ROAD_FEATURES = 3
CURVATURE_SCALE_M = 20.0  # [m] a 20 m radius reads as 1
ROAD_PREVIEW_M = 50.0  # [m] the curvature ahead is the largest over this distance

# Row 0: presence, lane position (-1 leftmost .. 1 rightmost), offset from lane centre, speed,
#        cruise speed, lane-change direction, whether a lane exists on the left minus on the right.
# Rows 1..: presence, dx, dy, dvx, dvy, cos and sin of the relative heading.


@dataclass(frozen=True)
class Observed:
    """What the observation is made of, for ``B`` scenes: ``(B,)`` tensors for the ego and its lane,
    ``(B, N)`` for the other vehicles; all float64 but ``present``."""

    lane_position: Tensor  # -1 in the leftmost lane listed, 1 in the rightmost, 0 if only one
    lane_offset_m: Tensor  # [m] the ego's offset from its lane's centre, positive to the right
    lanes_beside: Tensor  # 1 if a lane exists on the left, minus 1 if one exists on the right
    lane_heading_rad: Tensor  # [rad] the ego lane's heading at the ego
    ego_x_m: Tensor  # [m]
    ego_y_m: Tensor  # [m]
    ego_speed_mps: Tensor  # [m/s]
    ego_heading_rad: Tensor  # [rad]
    x_m: Tensor  # [m] the other vehicles
    y_m: Tensor  # [m]
    speed_mps: Tensor  # [m/s]
    heading_rad: Tensor  # [rad]
    present: Tensor  # bool: the entry is a vehicle (padding otherwise)


def encode_observed(
    observed: Observed,
    cruise_mps: Tensor,
    changing_direction: Tensor,
    road: Tensor | None = None,
) -> Tensor:
    """The observation of ``B`` scenes; see the module docstring.

    :param observed: the scenes.
    :param cruise_mps: ``(B,)`` the policy's current cruise speed [m/s].
    :param changing_direction: ``(B,)`` -1 while changing lane left, +1 right, 0 otherwise.
    :param road: ``(B, ROAD_FEATURES)`` the road interface's features of the ego's road, or None.
    :return: ``(B, 1 + VEHICLES, FEATURES)`` float64, ``FEATURES + ROAD_FEATURES`` columns with
        ``road``.
    """
    o = observed
    dtype = o.ego_x_m.dtype
    ego = torch.stack(
        [
            torch.ones_like(o.ego_x_m),
            o.lane_position,
            o.lane_offset_m / LATERAL_SCALE_M,
            o.ego_speed_mps / SPEED_SCALE_MPS,
            cruise_mps.to(dtype) / SPEED_SCALE_MPS,
            changing_direction.to(dtype),
            o.lanes_beside,
        ],
        dim=-1,
    )
    cos_h, sin_h = torch.cos(o.lane_heading_rad)[:, None], torch.sin(o.lane_heading_rad)[:, None]
    ego_vx = (o.ego_speed_mps * torch.cos(o.ego_heading_rad))[:, None]
    ego_vy = (o.ego_speed_mps * torch.sin(o.ego_heading_rad))[:, None]
    dx, dy = o.x_m - o.ego_x_m[:, None], o.y_m - o.ego_y_m[:, None]
    dvx = o.speed_mps * torch.cos(o.heading_rad) - ego_vx
    dvy = o.speed_mps * torch.sin(o.heading_rad) - ego_vy
    relative_heading = o.heading_rad - o.lane_heading_rad[:, None]
    rows = torch.stack(
        [
            torch.ones_like(dx),
            (cos_h * dx + sin_h * dy) / DISTANCE_SCALE_M,
            (-sin_h * dx + cos_h * dy) / LATERAL_SCALE_M,
            (cos_h * dvx + sin_h * dvy) / RELATIVE_SPEED_SCALE_MPS,
            (-sin_h * dvx + cos_h * dvy) / RELATIVE_SPEED_SCALE_MPS,
            torch.cos(relative_heading),
            torch.sin(relative_heading),
        ],
        dim=-1,
    )
    # The nearest VEHICLES within range, nearest first; a stable sort keeps the listed order on ties.
    distance = torch.sqrt(dx * dx + dy * dy)
    distance = torch.where(o.present & (distance <= RANGE_M), distance, torch.inf)
    distance, nearest = torch.sort(distance, dim=1, stable=True)
    count = min(VEHICLES, nearest.shape[1])
    nearest, seen = nearest[:, :count], torch.isfinite(distance[:, :count])
    rows = rows.gather(1, nearest[..., None].expand(-1, -1, FEATURES))
    rows = torch.where(seen[..., None], rows, 0.0)
    padding = rows.new_zeros(rows.shape[0], VEHICLES - count, FEATURES)
    encoded = torch.cat([ego[:, None, :], rows, padding], dim=1)
    if road is None:
        return encoded
    columns = encoded.new_zeros(encoded.shape[0], 1 + VEHICLES, ROAD_FEATURES)
    columns[:, 0] = road.to(encoded.dtype)
    return torch.cat([encoded, columns], dim=-1)


def road_features(scene: SceneState, rules: RulesConfig) -> tuple[float, float, float]:
    """Row 0's road columns for one perceived scene: the bumper gap to the first conflict with
    crossing traffic (:func:`~planning.rules.first_conflict_gap_m`, over :data:`DISTANCE_SCALE_M`,
    in [-1, 1]; 1 where there is none), the largest curvature over the next
    :data:`ROAD_PREVIEW_M` (times :data:`CURVATURE_SCALE_M`, at most 2) and the speed limit (over
    :data:`SPEED_SCALE_MPS`).

    :param scene: the perceived scene.
    :param rules: the executor's rules (the conflict prediction's horizon and distances).
    """
    lane = scene.lane(scene.ego.lane.index)
    assert lane is not None, "perception always reports the ego's lane"
    gap_m = first_conflict_gap_m(scene, lane, rules.conflict_rules)
    conflict = 1.0 if gap_m is None else min(max(gap_m / DISTANCE_SCALE_M, -1.0), 1.0)
    curvature = max_curvature(lane.centreline, 0.0, ROAD_PREVIEW_M) * CURVATURE_SCALE_M
    return conflict, min(curvature, 2.0), lane.speed_limit_mps / SPEED_SCALE_MPS


def encode(
    scene: SceneState,
    *,
    cruise_mps: float,
    changing_direction: int,
    road: tuple[float, ...] | None = None,
) -> np.ndarray:
    """Encode one perceived ``scene`` as a ``(1 + VEHICLES, FEATURES)`` float32 array.

    :param scene: the perceived scene.
    :param cruise_mps: the policy's current cruise speed [m/s].
    :param changing_direction: -1 while changing lane left, +1 right, 0 otherwise.
    :param road: :func:`road_features` for the road interface (``ROAD_FEATURES`` more columns).
    """
    ego = scene.ego
    lane = scene.lane(ego.lane.index)
    assert lane is not None, "perception always reports the ego's lane"
    station, offset = to_frenet(lane.centreline, np.array(ego.x_m), np.array(ego.y_m))
    heading = float(np.interp(station, lane.centreline.station_m, lane.centreline.heading_rad))
    indices = [geometry.lane.index for geometry in scene.lanes]
    low, high = min(indices), max(indices)
    position = 0.0 if high == low else 2 * (ego.lane.index - low) / (high - low) - 1
    beside = float(scene.lane(ego.lane.index - 1) is not None) - float(
        scene.lane(ego.lane.index + 1) is not None
    )
    vehicles = scene.vehicles

    def one(value: float) -> Tensor:
        return torch.tensor([value], dtype=torch.float64)

    def each(name: str) -> Tensor:
        return torch.tensor([[getattr(v, name) for v in vehicles]], dtype=torch.float64)

    observed = Observed(
        lane_position=one(position),
        lane_offset_m=one(float(offset)),
        lanes_beside=one(beside),
        lane_heading_rad=one(heading),
        ego_x_m=one(ego.x_m),
        ego_y_m=one(ego.y_m),
        ego_speed_mps=one(ego.speed_mps),
        ego_heading_rad=one(ego.heading_rad),
        x_m=each("x_m").reshape(1, len(vehicles)),
        y_m=each("y_m").reshape(1, len(vehicles)),
        speed_mps=each("speed_mps").reshape(1, len(vehicles)),
        heading_rad=each("heading_rad").reshape(1, len(vehicles)),
        present=torch.ones(1, len(vehicles), dtype=torch.bool),
    )
    road_row = None if road is None else torch.tensor([road], dtype=torch.float64)
    encoded = encode_observed(observed, one(cruise_mps), one(float(changing_direction)), road_row)
    return encoded[0].numpy().astype(np.float32)
