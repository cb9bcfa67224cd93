"""Planner implementations by name."""

from __future__ import annotations

from planning.base import Planner
from planning.rules import RulePlanner
from sims.strict import ConfigError

PLANNERS: dict[str, type[Planner]] = {
    "rules": RulePlanner,
}


def make_planner(name: str) -> Planner:
    """Build the planner registered as ``name``; raise :class:`ConfigError` (a ``ValueError``) listing valid names."""
    if name not in PLANNERS:
        raise ConfigError(f"unknown planner '{name}'; valid: {', '.join(PLANNERS)}")
    return PLANNERS[name]()
