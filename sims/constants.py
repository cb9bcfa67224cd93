"""highway-env's physical constants that more than one module needs, each defined once here.

Every package above ``sims`` imports them from this module; none writes its own copy.
"""

from __future__ import annotations

import math

LANE_WIDTH_M = 4.0  # [m] StraightLane.DEFAULT_WIDTH
VEHICLE_LENGTH_M = 5.0  # [m] Vehicle.LENGTH; also the wheelbase of its bicycle model
VEHICLE_WIDTH_M = 2.0  # [m] Vehicle.WIDTH
ON_LANE_MARGIN_M = 1.0  # [m] the margin Road.neighbour_vehicles passes to AbstractLane.on_lane
MAX_STEERING_RAD = math.pi / 3  # [rad] ControlledVehicle.MAX_STEERING_ANGLE
STEERING_LIMIT_RAD = math.pi / 4  # [rad] ContinuousAction's default steering range, +-
REWARD_SPEED_RANGE_MPS = (20.0, 30.0)  # [m/s] highway-v0's reward_speed_range
