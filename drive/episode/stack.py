"""A stack: one perceiver, one planner and one controller, chosen by their registered names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from control.base import Command, Controller
from control.registry import controller_files, make_controller
from perception.base import Perceiver
from perception.registry import make_perceiver, perceiver_files
from planning.base import Planner
from planning.registry import make_planner, planner_files
from sims.env import SimFrame
from sims.plants import DEFAULT_PLANT


@dataclass(frozen=True)
class StackSpec:
    """The names of the three stages; the defaults are the project's default stack."""

    perception: str = "groundtruth"
    planner: str = "rules"
    controller: str = "mpc"

    def describe(self) -> str:
        """One line naming the three stages, for a command's banner."""
        return f"perception={self.perception}, planner={self.planner}, controller={self.controller}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def files(self, *, plants: Iterable[str] = ()) -> tuple[Path, ...]:
        """The policy, weights and card files this stack loads (for a result's provenance).

        :param plants: the cars it drives (a controller that learned a car loads its model).
        """
        learned = [path for plant in plants for path in controller_files(self.controller, plant)]
        return (*perceiver_files(self.perception), *planner_files(self.planner), *learned)


@dataclass(frozen=True)
class Stack:
    """The three stages, built and ready to drive."""

    spec: StackSpec
    perceiver: Perceiver
    planner: Planner
    controller: Controller

    @classmethod
    def build(cls, spec: StackSpec, *, dt_s: float, plant: str = DEFAULT_PLANT) -> Stack:
        """Build each stage from its registry; unknown names raise ``ConfigError``.

        :param dt_s: the control step [s].
        :param plant: the car driven (a controller that learned it loads its model).
        """
        return cls(
            spec=spec,
            perceiver=make_perceiver(spec.perception),
            planner=make_planner(spec.planner),
            controller=make_controller(spec.controller, dt_s=dt_s, plant=plant),
        )

    def command(self, frame: SimFrame) -> Command:
        """The stages in turn on one frame: perceive, plan, control (untimed: the episode loop
        times each stage itself)."""
        scene = self.perceiver.perceive(frame)
        return self.controller.control(scene.ego, self.planner.plan(scene))

    def reset(self) -> None:
        """Start a new episode in every stage."""
        self.perceiver.reset()
        self.planner.reset()
        self.controller.reset()
