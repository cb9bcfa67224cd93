"""The planning stage: ``Planner.plan(scene) -> Plan``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from perception.base import SceneState
from sims.groundtruth import Centreline, LaneId
from sims.timing import StageClock

Decision = Literal["cruise", "follow", "change_left", "change_right"]


@dataclass(frozen=True)
class Plan:
    """The planner's intent for the controller.

    :param target_lane: the lane to drive in (the lane to change into, during a lane change).
    :param target_speed_mps: the speed to track [m/s].
    :param centreline: the target lane's centreline, for the controller to follow.
    :param decision: a short label of the decision, shown in videos and counted in metrics.
    """

    target_lane: LaneId
    target_speed_mps: float
    centreline: Centreline
    decision: Decision


class Planner(ABC):
    """A planning implementation; subclasses fill :meth:`_plan`."""

    def __init__(self) -> None:
        self.clock = StageClock()

    def reset(self) -> None:
        """Forget everything from the previous episode."""

    @property
    def overrides(self) -> int:
        """How often this episode a safety layer overrode the planner's own decision (0 if none)."""
        return 0

    def plan(self, scene: SceneState) -> Plan:
        """Decide a target lane and speed for ``scene``.

        :param scene: the perceived scene.
        :return: the plan; its target speed is finite and non-negative.
        """
        with self.clock.measure():
            plan = self._plan(scene)
        if not math.isfinite(plan.target_speed_mps) or plan.target_speed_mps < 0:
            raise RuntimeError(f"{type(self).__name__} planned a speed of {plan.target_speed_mps}")
        return plan

    @abstractmethod
    def _plan(self, scene: SceneState) -> Plan:
        """Implementation hook of :meth:`plan`."""
