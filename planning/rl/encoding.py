"""The policy's observation: the ego and its nearest vehicles, relative, in the ego lane's frame.

Row 0 describes the ego; rows 1..:data:`VEHICLES` describe the nearest other vehicles within
:data:`RANGE_M`, nearest first, and are zero (``presence`` 0) where there are fewer. Features are scaled
to about [-1, 1]. The ego-attention extractor treats rows 1.. as a set (their order does not matter);
the MLP extractor sees them flattened, nearest first.
"""

from __future__ import annotations

import math

import numpy as np

from perception.base import SceneState
from sims.frenet import to_frenet
from planning.rl.executor import MAX_CRUISE_MPS

VEHICLES = 10  # the nearest vehicles observed
RANGE_M = 120.0  # [m] vehicles farther than this are not observed
FEATURES = 7
DISTANCE_SCALE_M = 100.0  # [m]
LATERAL_SCALE_M = 12.0  # [m] three lane widths
SPEED_SCALE_MPS = MAX_CRUISE_MPS  # [m/s]
RELATIVE_SPEED_SCALE_MPS = 20.0  # [m/s]

# Row 0: presence, lane position (-1 leftmost .. 1 rightmost), offset from lane centre, speed,
#        cruise speed, lane-change direction, whether a lane exists on the left minus on the right.
# Rows 1..: presence, dx, dy, dvx, dvy, cos and sin of the relative heading.


def encode(scene: SceneState, *, cruise_mps: float, changing_direction: int) -> np.ndarray:
    """Encode ``scene`` as a ``(1 + VEHICLES, FEATURES)`` float32 array; see the module docstring.

    :param scene: the perceived scene.
    :param cruise_mps: the policy's current cruise speed [m/s].
    :param changing_direction: -1 while changing lane left, +1 right, 0 otherwise.
    """
    ego = scene.ego
    observation = np.zeros((1 + VEHICLES, FEATURES), dtype=np.float32)
    lane = scene.lane(ego.lane.index)
    assert lane is not None, "perception always reports the ego's lane"
    station, offset = to_frenet(lane.centreline, np.array(ego.x_m), np.array(ego.y_m))
    heading = float(np.interp(station, lane.centreline.station_m, lane.centreline.heading_rad))
    indices = [geometry.lane.index for geometry in scene.lanes]
    low, high = min(indices), max(indices)
    position = 0.0 if high == low else 2 * (ego.lane.index - low) / (high - low) - 1
    observation[0] = (
        1.0,
        position,
        float(offset) / LATERAL_SCALE_M,
        ego.speed_mps / SPEED_SCALE_MPS,
        cruise_mps / SPEED_SCALE_MPS,
        changing_direction,
        float(scene.lane(ego.lane.index - 1) is not None)
        - float(scene.lane(ego.lane.index + 1) is not None),
    )
    if not scene.vehicles:
        return observation

    cos_h, sin_h = math.cos(heading), math.sin(heading)
    ego_vx = ego.speed_mps * math.cos(ego.heading_rad)
    ego_vy = ego.speed_mps * math.sin(ego.heading_rad)
    rows = []
    for vehicle in scene.vehicles:
        dx_world, dy_world = vehicle.x_m - ego.x_m, vehicle.y_m - ego.y_m
        distance = math.hypot(dx_world, dy_world)
        if distance > RANGE_M:
            continue
        dvx_world = vehicle.speed_mps * math.cos(vehicle.heading_rad) - ego_vx
        dvy_world = vehicle.speed_mps * math.sin(vehicle.heading_rad) - ego_vy
        relative_heading = vehicle.heading_rad - heading
        rows.append(
            (
                distance,
                (
                    1.0,
                    (cos_h * dx_world + sin_h * dy_world) / DISTANCE_SCALE_M,
                    (-sin_h * dx_world + cos_h * dy_world) / LATERAL_SCALE_M,
                    (cos_h * dvx_world + sin_h * dvy_world) / RELATIVE_SPEED_SCALE_MPS,
                    (-sin_h * dvx_world + cos_h * dvy_world) / RELATIVE_SPEED_SCALE_MPS,
                    math.cos(relative_heading),
                    math.sin(relative_heading),
                ),
            )
        )
    rows.sort(key=lambda row: row[0])
    for k, (_, features) in enumerate(rows[:VEHICLES]):
        observation[1 + k] = features
    return observation
