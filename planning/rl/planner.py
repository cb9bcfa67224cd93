"""``RLPlanner``: a trained policy decides every second; the :class:`PolicyExecutor` plans in between."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from perception.base import SceneState
from planning.base import Plan, Planner
from planning.rl.checkpoint import load_policy
from planning.rl.executor import PolicyExecutor
from planning.rl.interface import interface_of
from planning.rl.reward import DECISION_PERIOD_S

SHIPPED_POLICY = Path(__file__).parent / "policies" / "default"
# An earlier default: trained with the rule planner's margins and a 1.0 s time gap.
POLITE_POLICY = Path(__file__).parent / "policies" / "polite"
# The all-roads policy (issue 30): the road interface, trained on five roads of the suite.
ROAD_POLICY = Path(__file__).parent / "policies" / "road"
# The same interface trained on the batched engine's roads (merge, roundabout, exit, intersection).
ROAD_ENGINE_POLICY = Path(__file__).parent / "policies" / "road-engine"
# The same, with the highway policy's boldness: IDM+ at 0.6 s, and its thin lane-change margins.
ROAD_BOLD_POLICY = Path(__file__).parent / "policies" / "road-bold"
# The same interface and boldness trained on six roads of the engine, highway-v0 among them.
ROAD_ALL_POLICY = Path(__file__).parent / "policies" / "road-all"


class RLPlanner(Planner):
    """Plans with a trained policy from ``path`` (a ``policy.zip`` or a directory holding one).

    :param path: the checkpoint.
    :param safety_layer: let the executor's safety layer veto unsafe lane changes (counted in
        :attr:`overrides`).

    The executor drives as the policy was trained to: by its card's ``car_following``,
    ``time_gap_s`` and ``safety_margins``.
    """

    def __init__(self, path: Path = SHIPPED_POLICY, *, safety_layer: bool = True) -> None:
        super().__init__()
        self.model, self.card = load_policy(path)
        self.interface = interface_of(self.card.interface)
        self.executor = PolicyExecutor(
            safety_layer=safety_layer, executor_config=self.card.executor_config
        )
        self.reset()

    def reset(self) -> None:
        self.executor.reset()
        self._next_decision_s = 0.0

    @property
    def overrides(self) -> int:
        return self.executor.overrides

    def _plan(self, scene: SceneState) -> Plan:
        if scene.time_s >= self._next_decision_s - 1e-9:
            observation = self.interface.observe(scene, self.executor)
            action, _ = self.model.predict(observation, deterministic=True)
            self.executor.decide(self.interface.actions[int(action)], scene)
            self._next_decision_s = scene.time_s + DECISION_PERIOD_S
        return self.executor.plan(scene)


class ShippedRLPlanner(RLPlanner):
    """A policy shipped in ``planning/rl/policies``: the folder :attr:`POLICY`, with or without the
    safety layer (:attr:`SAFETY_LAYER`). Each registered name is a subclass that sets the two, so
    that the registry reads which files a planner loads off its class."""

    POLICY: ClassVar[Path] = SHIPPED_POLICY
    SAFETY_LAYER: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__(self.POLICY, safety_layer=self.SAFETY_LAYER)


class DefaultRLPlanner(ShippedRLPlanner):
    """The shipped policy (:data:`SHIPPED_POLICY`), with its safety layer."""


class UnguardedRLPlanner(ShippedRLPlanner):
    """The shipped policy without the safety layer, to measure what the policy does on its own."""

    SAFETY_LAYER = False


class PoliteRLPlanner(ShippedRLPlanner):
    """An earlier default (:data:`POLITE_POLICY`), with its safety layer: IDM+ at 1.0 s, and lane
    changes only into gaps that the rule planner would take."""

    POLICY = POLITE_POLICY


class RoadRLPlanner(ShippedRLPlanner):
    """The all-roads policy (:data:`ROAD_POLICY`, the ``road`` interface), with its safety layer."""

    POLICY = ROAD_POLICY


class UnguardedRoadRLPlanner(ShippedRLPlanner):
    """The all-roads policy without the safety layer."""

    POLICY, SAFETY_LAYER = ROAD_POLICY, False


class RoadEngineRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained on the batched engine (:data:`ROAD_ENGINE_POLICY`), with its
    safety layer."""

    POLICY = ROAD_ENGINE_POLICY


class UnguardedRoadEngineRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained on the batched engine, without the safety layer."""

    POLICY, SAFETY_LAYER = ROAD_ENGINE_POLICY, False


class RoadBoldRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained on the batched engine with IDM+ at 0.6 s
    (:data:`ROAD_BOLD_POLICY`), with its safety layer."""

    POLICY = ROAD_BOLD_POLICY


class UnguardedRoadBoldRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained on the batched engine with IDM+ at 0.6 s, without the safety
    layer."""

    POLICY, SAFETY_LAYER = ROAD_BOLD_POLICY, False


class RoadAllRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained on the engine's highway-v0 beside its other roads
    (:data:`ROAD_ALL_POLICY`), with its safety layer."""

    POLICY = ROAD_ALL_POLICY


class UnguardedRoadAllRLPlanner(ShippedRLPlanner):
    """The all-roads policy trained with highway-v0, without the safety layer."""

    POLICY, SAFETY_LAYER = ROAD_ALL_POLICY, False
