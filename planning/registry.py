"""Planner implementations by name, or a trained policy by path."""

from __future__ import annotations

from pathlib import Path

from planning.base import Planner
from planning.rl.planner import PoliteRLPlanner, RLPlanner, UnguardedRLPlanner
from planning.rules import BoldRulePlanner, IdmPlusRulePlanner, RulePlanner
from sims.strict import ConfigError

PLANNERS: dict[str, type[Planner]] = {
    "rules": RulePlanner,
    "rules-idm-plus": IdmPlusRulePlanner,  # the rules with polite's car following
    "rules-bold": BoldRulePlanner,  # the rules with default's car following and margins
    "default": RLPlanner,  # the shipped policy, with its safety layer
    "default-unguarded": UnguardedRLPlanner,  # the shipped policy alone
    "polite": PoliteRLPlanner,  # an earlier default: the rule planner's margins, 1.0 s gap
}


def make_planner(name: str) -> Planner:
    """Build the planner registered as ``name``, or an :class:`RLPlanner` from a checkpoint path.

    :raises ConfigError: (a ``ValueError``) for a name that is neither, listing the valid names.
    """
    if name in PLANNERS:
        return PLANNERS[name]()
    if Path(name).exists():
        return RLPlanner(Path(name))
    raise ConfigError(
        f"unknown planner '{name}'; valid: {', '.join(PLANNERS)}, or the path of a trained policy"
    )
