"""Stage implementations that other installed packages register through entry points.

A package adds a planner, a perceiver or a controller by naming its class in its own
``pyproject.toml``::

    [project.entry-points."drive_stack.planners"]
    cautious = "cautious_planner:CautiousPlanner"

and from then on ``cautious`` is taken wherever a planner name is (``--planner``, ``--drive-planner``,
``StackSpec``). The registries themselves stay explicit dict literals of the built-in
implementations (shared/CONVENTIONS.md, item 5); this module only adds the names installed
packages declare. Entry points are the packaging standard for exactly this (pytest, setuptools
and Jupyter find their plugins the same way), so no class is looked up from a string a user typed:
the name is looked up in what the installed distributions declare. A registered class is loaded
only when its name is asked for, so a broken unrelated package costs nothing until it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sims.strict import ConfigError

GROUPS = {
    "perception": "drive_stack.perceivers",
    "planner": "drive_stack.planners",
    "controller": "drive_stack.controllers",
}
"""The entry-point group of each stage, by the word its error messages use."""


@dataclass(frozen=True)
class Registered:
    """One implementation an installed distribution registers.

    :param name: the name it is chosen by.
    :param entry_point: the entry point, ``module:Class``.
    :param distribution: the distribution that declares it, for error messages.
    """

    name: str
    entry_point: EntryPoint
    distribution: str


def registered(kind: str, *, built_in: tuple[str, ...]) -> dict[str, Registered]:
    """The implementations of stage ``kind`` that installed distributions register, by name.

    :param kind: ``"perception"``, ``"planner"`` or ``"controller"`` (a key of :data:`GROUPS`).
    :param built_in: the names of the built-in implementations, which a registration may not take.
    :return: the registrations, sorted by name.
    :raises ConfigError: when a registered name is a built-in one, or two distributions register
        the same name.
    """
    found: dict[str, Registered] = {}
    for entry_point in entry_points(group=GROUPS[kind]):
        distribution = (
            entry_point.dist.name if entry_point.dist is not None else "an unnamed distribution"
        )
        entry = Registered(entry_point.name, entry_point, distribution)
        if entry.name in built_in:
            raise ConfigError(
                f"{distribution} registers a {kind} named '{entry.name}' (entry point group "
                f"{GROUPS[kind]}), the name of a built-in {kind}; rename it in its pyproject.toml"
            )
        earlier = found.get(entry.name)
        if earlier is not None and earlier.entry_point.value != entry_point.value:
            raise ConfigError(
                f"two distributions register a {kind} named '{entry.name}' (entry point group "
                f"{GROUPS[kind]}): {earlier.distribution} and {distribution}; uninstall or rename one"
            )
        found[entry.name] = entry
    return dict(sorted(found.items()))


def load_registered(entry: Registered, *, base: type, kind: str) -> Any:
    """Import the class ``entry`` names and check that it implements ``base``.

    :param entry: a registration from :func:`registered`.
    :param base: the stage's base class.
    :param kind: the stage, for error messages.
    :return: the class (typed by the caller, which knows its stage).
    :raises ConfigError: naming the entry point and its distribution, when the import fails or what
        it names is not a subclass of ``base``.
    """
    where = f"{kind} '{entry.name}' ({entry.entry_point.value}, registered by {entry.distribution})"
    try:
        loaded = entry.entry_point.load()
    except (
        Exception
    ) as error:  # any import error of someone else's module: one line, not a traceback
        raise ConfigError(f"{where} cannot be imported: {type(error).__name__}: {error}") from None
    if not (isinstance(loaded, type) and issubclass(loaded, base)):
        raise ConfigError(f"{where} is not a subclass of {base.__module__}.{base.__qualname__}")
    return loaded


def valid_names(built_in: tuple[str, ...], extra: dict[str, Registered]) -> str:
    """The valid names for an error message: the built-in ones, then the registered ones with
    their distribution."""
    names = list(built_in) + [
        f"{name} (from {entry.distribution})" for name, entry in extra.items()
    ]
    return ", ".join(names)
