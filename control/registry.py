"""Controller implementations by name: the built-in ones, and those installed packages register
under the ``drive_stack.controllers`` entry point (:mod:`sims.registered`)."""

from __future__ import annotations

from pathlib import Path

from control.base import Controller
from control.builtin import BuiltinController
from control.dynamics_model import dynamics_files
from control.mpc import MpcController
from control.mpc_comfort import ComfortMpcController
from control.mpc_learned import LearnedMpcController
from control.tracker import TrackerController
from sims.plants import DEFAULT_PLANT
from sims.registered import load_registered, registered, valid_names
from sims.strict import ConfigError

# Controllers built for the car they drive: they load the dynamics model learned on that plant.
LEARNED_CONTROLLERS: dict[str, type[LearnedMpcController]] = {"mpc-learned": LearnedMpcController}
CONTROLLERS: dict[str, type[Controller]] = {
    "tracker": TrackerController,
    "mpc": MpcController,
    "mpc-comfort": ComfortMpcController,
    "builtin": BuiltinController,
    **LEARNED_CONTROLLERS,
}


def controller_files(name: str, plant: str) -> tuple[Path, ...]:
    """The weights and card the controller ``name`` loads to drive ``plant`` (for provenance)."""
    return dynamics_files(plant) if name in LEARNED_CONTROLLERS else ()


def controller_names() -> list[str]:
    """Every name :func:`make_controller` takes: the built-in ones, then the registered ones."""
    return [*CONTROLLERS, *registered("controller", built_in=tuple(CONTROLLERS))]


def make_controller(name: str, *, dt_s: float, plant: str = DEFAULT_PLANT) -> Controller:
    """Build the controller registered as ``name`` (built in or from an installed package) for
    control step ``dt_s`` [s]; a registered controller is built as ``cls(dt_s=dt_s)``.

    :param plant: the car it will drive (:data:`sims.plants.PLANTS`): a controller that learned the
        car (:data:`LEARNED_CONTROLLERS`) loads the model learned on it; the others ignore it.
    :raises ConfigError: for an unknown name, listing the valid ones, or a learned controller
        without a model of ``plant``.
    """
    if name in LEARNED_CONTROLLERS:
        return LEARNED_CONTROLLERS[name](dt_s=dt_s, plant=plant)
    if name in CONTROLLERS:
        return CONTROLLERS[name](dt_s=dt_s)
    extra = registered("controller", built_in=tuple(CONTROLLERS))
    if name in extra:
        implementation: type[Controller] = load_registered(
            extra[name], base=Controller, kind="controller"
        )
        return implementation(dt_s=dt_s)
    raise ConfigError(
        f"unknown controller '{name}'; valid: {valid_names(tuple(CONTROLLERS), extra)}"
    )
