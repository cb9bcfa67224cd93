"""A planner of your own for drive-stack: keep the lane, follow the car ahead with IDM.

pyproject.toml registers it under the name ``lane-keeper`` (entry point group
``drive_stack.planners``), so ``drive rollout --planner lane-keeper`` and ``pytest`` drive with it.
"""

from __future__ import annotations

from perception.base import SceneState
from planning.base import Plan, Planner
from planning.neighbours import neighbours_in
from sims.idm import idm_acceleration

CRUISE_SPEED_MPS = 25.0  # [m/s] the speed it keeps on a free road
HORIZON_S = 1.0  # [s] target speed = speed + IDM acceleration x this horizon


class LaneKeeper(Planner):
    """Never changes lanes; brakes and accelerates as the intelligent driver model says."""

    def _plan(self, scene: SceneState) -> Plan:
        lane = scene.lane(scene.ego.lane.index)
        assert lane is not None, "perception always reports the ego's own lane"
        ahead = neighbours_in(lane, scene)
        acceleration_mps2 = idm_acceleration(
            scene.ego.speed_mps,
            CRUISE_SPEED_MPS,
            gap_m=ahead.lead_gap_m,
            lead_speed_mps=ahead.lead_speed_mps,
        )
        target_speed_mps = max(0.0, scene.ego.speed_mps + acceleration_mps2 * HORIZON_S)
        return Plan(
            target_lane=lane.lane,
            target_speed_mps=min(target_speed_mps, CRUISE_SPEED_MPS),
            centreline=lane.centreline,
            decision="follow" if ahead.lead_gap_m is not None else "cruise",
        )
