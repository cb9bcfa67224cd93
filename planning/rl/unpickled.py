"""Loading an SB3 ``policy.zip`` without unpickling anything from it.

An SB3 zip holds the network as ``policy.pth`` (which SB3 reads with ``torch.load(weights_only=True)``,
safe) and the algorithm's parameters as JSON in ``data``, where every object that is not plain JSON
(the policy class, the spaces, schedules, the replay-buffer class, the last observation) is a
base64 cloudpickle: unpickling it runs whatever code the file names. SB3 skips the unpickling of
any key given in ``custom_objects``; this module rebuilds each such key from the readable fields SB3
writes beside the pickle, from classes of this project's own registries, or leaves it out where a
policy that only plans never reads it. A key it does not know is refused by name: nothing is ever
unpickled. A policy loaded so plans exactly as one loaded by SB3 (``tests/planning/test_rl.py``),
but cannot continue training: its replay buffer class, training frequency and last observation
are not restored (``drive train --resume`` reads its own run's checkpoint with SB3's loader).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm

from planning.rl.extractors import EXTRACTORS
from sims.reading import refusing
from sims.strict import ConfigError

# Classes a policy's keyword arguments may name, by the repr SB3 writes beside their pickle: our
# extractors, and the optimiser and activations SB3 and sb3-contrib name by default (QR-DQN's Adam).
TRUSTED_CLASSES: dict[str, type] = {
    repr(cls): cls for cls in (*EXTRACTORS.values(), torch.optim.Adam, torch.nn.ReLU, torch.nn.Tanh)
}
# Kept by SB3 for training only; a policy that plans reads none of them, and SB3's `_setup_model`
# rebuilds the schedules from plain fields (learning_rate, exploration_*).
TRAINING_ONLY = (
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
    "replay_buffer_class",
    "rollout_buffer_class",
    "lr_schedule",
    "exploration_schedule",
)
_CONSTANT = re.compile(r"ConstantSchedule\(val=([-+0-9.eE]+)\)")


def load_without_unpickling(
    algorithm: type[BaseAlgorithm], policy: Path, *, device: str
) -> BaseAlgorithm:
    """``algorithm.load(policy)`` with every pickled object of the zip rebuilt instead of unpickled.

    :param algorithm: the SB3 class the card names.
    :param policy: the ``policy.zip``.
    :param device: where the network goes.
    :raises ConfigError: the zip is damaged, holds an object this loader does not rebuild, or
        weights that do not fit the network or are not finite.
    """
    with refusing(policy, "SB3 policy zip"):
        with zipfile.ZipFile(policy) as archive:
            data = json.loads(archive.read("data").decode("utf-8"))
        if not isinstance(data, dict):
            raise ConfigError(f"{policy}: its 'data' is not a JSON object")
        custom = {
            key: _rebuilt(key, item, algorithm, policy)
            for key, item in data.items()
            if isinstance(item, dict) and ":serialized:" in item
        }
        model = algorithm.load(policy, device=device, custom_objects=custom)
    for name, parameter in model.policy.state_dict().items():
        if parameter.is_floating_point() and not bool(parameter.isfinite().all()):
            raise ConfigError(f"{policy}: tensor {name} holds NaN or infinite values")
    return model


def _rebuilt(key: str, item: dict[str, Any], algorithm: type[BaseAlgorithm], policy: Path) -> Any:
    kind = str(item.get(":type:"))
    if key in TRAINING_ONLY:
        return None
    if key == "policy_class":
        return algorithm.policy_aliases["MlpPolicy"]  # what drive train and drive baseline use
    if key == "policy_kwargs":
        return {name: _value(name, text, policy) for name, text in item.items() if name[0] != ":"}
    if key == "train_freq":
        return (1, "step")  # read by training only; SB3's setup needs a value
    if kind == "<class 'gymnasium.spaces.box.Box'>":
        if "True" in str(item.get("bounded_below")) + str(item.get("bounded_above")):
            raise ConfigError(f"{policy}: a bounded observation space is not rebuilt")
        shape = tuple(int(size) for size in item["_shape"])
        return spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.dtype(item["dtype"]))
    if kind == "<class 'gymnasium.spaces.discrete.Discrete'>":
        return spaces.Discrete(int(item["n"]), start=int(item["start"]))
    if kind == "<class 'stable_baselines3.common.utils.FloatSchedule'>":  # PPO's clip range
        match = _CONSTANT.fullmatch(str(item.get("value_schedule")))
        if match:
            return float(match.group(1))
    raise ConfigError(
        f"{policy}: holds a pickled '{key}' ({kind}) that is only read by unpickling; refused"
    )


def _value(name: str, text: Any, policy: Path) -> Any:
    """A policy keyword from the readable copy SB3 writes: plain JSON as it is, a class by name
    from :data:`TRUSTED_CLASSES`, anything else (a repr of an object) refused."""
    if isinstance(text, str) and text in TRUSTED_CLASSES:
        return TRUSTED_CLASSES[text]
    if isinstance(text, str) and text.startswith("<"):
        raise ConfigError(
            f"{policy}: policy keyword '{name}' is {text!r:.60}, not a class of this project"
        )
    return text
