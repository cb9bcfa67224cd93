"""What a policy sees and decides, named on its card: its interface.

``highway`` is the interface of the highway policies: :data:`~planning.rl.executor.ACTIONS` and the
observation of :func:`~planning.rl.encoding.encode`. ``road`` is the all-roads planner's (issue 30):
each of those decisions with a choice to yield to crossing traffic or go
(:data:`~planning.rl.executor.ROAD_ACTIONS`), and an observation that also carries the road ahead
(:func:`~planning.rl.encoding.road_features`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perception.base import SceneState
from planning.rl.encoding import FEATURES, ROAD_FEATURES, VEHICLES, encode, road_features
from planning.rl.executor import ACTIONS, ROAD_ACTIONS, Action, PolicyExecutor


@dataclass(frozen=True)
class Interface:
    """A policy's decisions and the width of its observation."""

    name: str
    actions: tuple[Action, ...]
    features: int  # columns of the observation
    road: bool  # the observation carries road_features

    @property
    def observation_shape(self) -> tuple[int, int]:
        """The observation's shape: the ego's row and one row per observed vehicle."""
        return (1 + VEHICLES, self.features)

    def observe(self, scene: SceneState, executor: PolicyExecutor) -> np.ndarray:
        """The observation of ``scene`` for a policy whose decisions ``executor`` carries out.

        :param scene: the perceived scene.
        :param executor: the executor (its cruise speed, lane change under way and rules).
        :return: a float32 array of :attr:`observation_shape`.
        """
        return encode(
            scene,
            cruise_mps=executor.cruise_mps,
            changing_direction=executor.changing_direction,
            road=road_features(scene, executor.config) if self.road else None,
        )


INTERFACES: dict[str, Interface] = {
    "highway": Interface("highway", ACTIONS, FEATURES, road=False),
    "road": Interface("road", ROAD_ACTIONS, FEATURES + ROAD_FEATURES, road=True),
}


def interface_of(name: str) -> Interface:
    """The interface called ``name``; a ValueError lists the valid names."""
    if name not in INTERFACES:
        raise ValueError(f"unknown interface {name!r}; valid: {', '.join(INTERFACES)}")
    return INTERFACES[name]
