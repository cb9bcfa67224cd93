"""Controller implementations by name."""

from __future__ import annotations

from control.base import Controller
from control.builtin import BuiltinController
from control.mpc import MpcController
from control.tracker import TrackerController
from sims.strict import ConfigError

CONTROLLERS: dict[str, type[Controller]] = {
    "tracker": TrackerController,
    "mpc": MpcController,
    "builtin": BuiltinController,
}


def make_controller(name: str, *, dt_s: float) -> Controller:
    """Build the controller registered as ``name`` for control step ``dt_s`` [s].

    :raises ConfigError: for an unknown name, listing the valid ones.
    """
    if name not in CONTROLLERS:
        raise ConfigError(f"unknown controller '{name}'; valid: {', '.join(CONTROLLERS)}")
    return CONTROLLERS[name](dt_s=dt_s)
