"""The perception stage: ``Perceiver.perceive(frame) -> SceneState``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from sims.dataset import FrameSpec
from sims.env import SimFrame
from sims.groundtruth import EgoState, LaneGeometry, VehicleState
from sims.timing import StageClock


@dataclass(frozen=True)
class SceneState:
    """What the stack believes about the world at ``time_s`` [s].

    :param ego: the ego vehicle's state.
    :param vehicles: other road users within sensing range, world coordinates.
    :param lanes: the ego's lane and its neighbours, ordered by lane index.
    """

    time_s: float
    ego: EgoState
    vehicles: tuple[VehicleState, ...]
    lanes: tuple[LaneGeometry, ...]

    def lane(self, index: int) -> LaneGeometry | None:
        """The lane with highway-env lane index ``index`` on the ego's road edge, if perceived."""
        for geometry in self.lanes:
            if geometry.lane.index == index:
                return geometry
        return None


class Perceiver(ABC):
    """A perception implementation; subclasses fill :meth:`_perceive`.

    :attr camera: the rendered window the perceiver reads from every frame, or None when it needs
        no image; the loop renders it at every step.
    """

    camera: FrameSpec | None = None

    def __init__(self) -> None:
        self.clock = StageClock()

    def reset(self) -> None:
        """Forget everything from the previous episode."""

    def perceive(self, frame: SimFrame) -> SceneState:
        """Estimate the scene from a simulator frame.

        :param frame: the frame (ground truth and, when rendered, the image).
        :return: the estimated scene state.
        """
        with self.clock.measure():
            scene = self._perceive(frame)
        if scene.time_s != frame.truth.time_s:
            raise RuntimeError(f"{type(self).__name__} returned a scene stamped {scene.time_s} s")
        return scene

    @abstractmethod
    def _perceive(self, frame: SimFrame) -> SceneState:
        """Implementation hook of :meth:`perceive`."""
