"""Trained policies on disk: an SB3 ``.zip`` and, beside it, a ``.json`` that says how it was made."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sb3_contrib import QRDQN
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from planning.rl.executor import ExecutorConfig, SafetyMargins
from planning.rl.interface import interface_of
from planning.rl.unpickled import load_without_unpickling
from sims.files import remove_stale
from sims.idm import IdmParameters
from sims.provenance import provenance, sha256
from sims.reading import read_json, refusing
from sims.strict import ConfigError

# qrdqn: quantile-regression DQN (Dabney et al. 2018) from sb3-contrib, DQN's recipe otherwise.
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"dqn": DQN, "qrdqn": QRDQN, "ppo": PPO}
POLICY_FILE = "policy.zip"


@dataclass(frozen=True)
class PolicyCard:
    """How a checkpoint was made; written beside it as JSON."""

    algo: str
    extractor: str
    scenario: str
    controller: str
    env_steps: int
    seed: int
    command: str = ""
    train_wall_s: float = 0.0
    validation: dict[str, Any] = field(default_factory=dict)
    # The executor it was trained with (planning.rl.executor.ExecutorConfig). Cards older than the
    # choice of car following hold neither field and mean highway-env's IDM at 1.5 s; cards older
    # than the choice of margins mean the rule planner's, and a margin missing from a card means its
    # default (SafetyMargins': a 20 m far-lane clearance and no wait, for instance).
    car_following: str = "idm"
    time_gap_s: float = IdmParameters().time_gap_s
    safety_margins: dict[str, Any] = field(default_factory=lambda: card_margins(SafetyMargins()))
    # Checks of ``safety_margins`` turned on for deployment after training: the policy learned
    # without them, and ``command`` reproduces its weights, not them. Empty for a card as trained.
    added_after_training: tuple[str, ...] = ()
    # The sha256 of the policy.zip beside it, and the commit and package versions that wrote it
    # (sims.provenance); empty in cards written before they were recorded.
    sha256: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    # What the policy sees and decides (planning.rl.interface); cards older than the all-roads
    # interface (issue 30) mean the highway policies'.
    interface: str = "highway"
    # The executor's lateral acceleration in curves [m/s2]; older cards mean the rule planner's.
    lateral_acceleration_mps2: float = ExecutorConfig().lateral_acceleration_mps2

    def __post_init__(self) -> None:
        for item in fields(self):
            kind = _CARD_TYPES.get(str(item.type).split("[")[0])
            value = getattr(self, item.name)
            if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise TypeError(f"{item.name} {value!r} is not {str(item.type).split('[')[0]}")
        self.executor_config  # noqa: B018 (ExecutorConfig's ValueError names the bad value)
        interface_of(self.interface)  # its ValueError names the valid interfaces
        object.__setattr__(self, "added_after_training", tuple(self.added_after_training))
        for name in self.added_after_training:
            if self.safety_margins.get(name) is not True:
                raise ValueError(
                    f"added_after_training names {name!r}, which is not a check turned on in "
                    "safety_margins"
                )

    @property
    def executor_config(self) -> ExecutorConfig:
        """How the executor drives the decisions of this policy when deployed."""
        margins = dict(self.safety_margins)
        if "max_imposed_braking_mps2" in margins and margins["max_imposed_braking_mps2"] is None:
            margins["max_imposed_braking_mps2"] = math.inf
        return ExecutorConfig(
            self.car_following,  # type: ignore[arg-type]
            self.time_gap_s,
            SafetyMargins(**margins),
            self.lateral_acceleration_mps2,
        )


# What a card's text, counts and tables must be when read back (a JSON file may hold anything).
_CARD_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "float": (int, float),
    "dict": dict,
}


def card_margins(margins: SafetyMargins) -> dict[str, Any]:
    """The margins as a card holds them, in strict JSON: no bound on the braking is ``null``."""
    values = asdict(margins)
    if math.isinf(values["max_imposed_braking_mps2"]):
        values["max_imposed_braking_mps2"] = None
    return values


def card_path(policy: Path) -> Path:
    return policy.with_suffix(".json")


def resolve(path: Path) -> Path:
    """The policy file at ``path``: the file itself, or ``policy.zip`` inside a directory."""
    policy = path / POLICY_FILE if path.is_dir() else path
    if not policy.is_file() or not card_path(policy).is_file():
        raise ConfigError(f"{path}: no trained policy here (expected {POLICY_FILE} and its .json)")
    return policy


def read_card(policy: Path) -> PolicyCard:
    """The card beside ``policy``; one line naming it when it is not a policy card."""
    document = read_json(card_path(policy), "policy card")
    with refusing(card_path(policy), "policy card"):
        if not isinstance(document, dict):
            raise TypeError(f"expected a JSON object, got {type(document).__name__}")
        return PolicyCard(**document)


def load_policy(path: Path, *, device: str = "cpu") -> tuple[BaseAlgorithm, PolicyCard]:
    """Load the policy at ``path`` (a file or a directory holding ``policy.zip``) and its card,
    unpickling nothing from the zip (:mod:`planning.rl.unpickled`)."""
    policy = resolve(path)
    card = read_card(policy)
    if card.algo not in ALGORITHMS:
        raise ConfigError(
            f"{card_path(policy)}: unknown algo '{card.algo}'; valid: {', '.join(ALGORITHMS)}"
        )
    return load_without_unpickling(ALGORITHMS[card.algo], policy, device=device), card


def save_policy(model: BaseAlgorithm, card: PolicyCard, policy: Path) -> None:
    """Write the policy and its card atomically (a crash leaves the previous pair intact)."""
    policy.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(policy.parent, f".{policy.stem}-staging-*")  # what a killed run left
    with tempfile.TemporaryDirectory(
        dir=policy.parent, prefix=f".{policy.stem}-staging-"
    ) as scratch:
        staged = Path(scratch) / policy.name
        model.save(staged)
        card = replace(card, sha256=sha256(staged), provenance=provenance())
        staged_card = card_path(staged)
        staged_card.write_text(json.dumps(asdict(card), indent=2) + "\n")
        os.replace(staged, policy)
        os.replace(staged_card, card_path(policy))
