"""Planner implementations by name (the built-in ones, and those installed packages register under
the ``drive_stack.planners`` entry point, :mod:`sims.registered`), or a trained policy by path."""

from __future__ import annotations

from pathlib import Path

from planning.base import Planner
from planning.rl.checkpoint import card_path, resolve
from planning.rl.planner import (
    DefaultRLPlanner,
    PoliteRLPlanner,
    RLPlanner,
    RoadAllRLPlanner,
    RoadBoldRLPlanner,
    RoadEngineRLPlanner,
    RoadRLPlanner,
    ShippedRLPlanner,
    UnguardedRLPlanner,
    UnguardedRoadAllRLPlanner,
    UnguardedRoadBoldRLPlanner,
    UnguardedRoadEngineRLPlanner,
    UnguardedRoadRLPlanner,
)
from planning.rules import BoldRulePlanner, IdmPlusRulePlanner, RulePlanner
from sims.registered import load_registered, registered, valid_names
from sims.strict import ConfigError

PLANNERS: dict[str, type[Planner]] = {
    "rules": RulePlanner,
    "rules-idm-plus": IdmPlusRulePlanner,  # the rules with polite's car following
    "rules-bold": BoldRulePlanner,  # the rules with default's car following and margins
    "default": DefaultRLPlanner,  # the shipped policy, with its safety layer
    "default-unguarded": UnguardedRLPlanner,  # the shipped policy alone
    "polite": PoliteRLPlanner,  # an earlier default: the rule planner's margins, 1.0 s gap
    "road": RoadRLPlanner,  # the all-roads policy (issue 30), with its safety layer
    "road-unguarded": UnguardedRoadRLPlanner,  # the all-roads policy alone
    "road-engine": RoadEngineRLPlanner,  # the all-roads policy trained on the batched engine
    "road-engine-unguarded": UnguardedRoadEngineRLPlanner,  # the same, alone
    "road-bold": RoadBoldRLPlanner,  # the same with IDM+ at 0.6 s, as bold as default
    "road-bold-unguarded": UnguardedRoadBoldRLPlanner,  # the same, alone
    "road-all": RoadAllRLPlanner,  # road-bold's recipe on six roads, highway-v0 among them
    "road-all-unguarded": UnguardedRoadAllRLPlanner,  # the same, alone
}


def planner_names() -> list[str]:
    """Every name :func:`make_planner` takes: the built-in ones, then the registered ones."""
    return [*PLANNERS, *registered("planner", built_in=tuple(PLANNERS))]


# ``unguarded:PATH``: the trained policy at PATH without its safety layer, as the ``-unguarded``
# planners are the shipped ones without it.
UNGUARDED_PREFIX = "unguarded:"


def make_planner(name: str) -> Planner:
    """Build the planner registered as ``name`` (built in or from an installed package), or an
    :class:`RLPlanner` from a checkpoint path (``unguarded:PATH``: without its safety layer).

    :raises ConfigError: (a ``ValueError``) for a name that is none of these, listing the valid names.
    """
    if name in PLANNERS:
        return PLANNERS[name]()
    extra = registered("planner", built_in=tuple(PLANNERS))
    if name in extra:
        implementation: type[Planner] = load_registered(extra[name], base=Planner, kind="planner")
        return implementation()
    path, guarded = _policy_path(name)
    if path.exists():
        return RLPlanner(path, safety_layer=guarded)
    raise ConfigError(
        f"unknown planner '{name}'; valid: {valid_names(tuple(PLANNERS), extra)}, "
        "or the path of a trained policy (unguarded:PATH: without its safety layer)"
    )


def _policy_path(name: str) -> tuple[Path, bool]:
    """The policy path a planner name gives, and whether its safety layer is on."""
    if name.startswith(UNGUARDED_PREFIX):
        return Path(name.removeprefix(UNGUARDED_PREFIX)), False
    return Path(name), True


# The policy each registered RL planner loads (its class's); the other planners load no file.
POLICY_FOLDERS: dict[str, Path] = {
    name: implementation.POLICY
    for name, implementation in PLANNERS.items()
    if issubclass(implementation, ShippedRLPlanner)
}


def planner_files(name: str) -> tuple[Path, ...]:
    """The files the planner ``name`` (as :func:`make_planner` takes it) loads: a policy and its
    card, for a result's provenance; none for a rule planner.

    :raises ConfigError: for a path without a trained policy.
    """
    if name in PLANNERS and name not in POLICY_FOLDERS:
        return ()
    if name not in PLANNERS and name in registered("planner", built_in=tuple(PLANNERS)):
        return ()  # an installed package's planner: its files are its package's
    policy = resolve(POLICY_FOLDERS.get(name, _policy_path(name)[0]))
    return policy, card_path(policy)
