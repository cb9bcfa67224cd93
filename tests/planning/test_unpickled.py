"""The shipped policies load without unpickling anything, and plan exactly as SB3's loader has them."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile

import numpy as np
import pytest
import stable_baselines3.common.save_util as save_util
import torch
from stable_baselines3 import DQN

from planning.rl.checkpoint import load_policy
from planning.rl.planner import POLITE_POLICY, SHIPPED_POLICY
from sims.strict import ConfigError


@pytest.mark.parametrize("folder", [SHIPPED_POLICY, POLITE_POLICY], ids=["default", "polite"])
def test_a_policy_loads_without_unpickling_and_decides_as_sb3s(folder, monkeypatch):
    reference = DQN.load(folder / "policy.zip", device="cpu")  # SB3's own loader unpickles

    def refuse(*arguments, **keywords):
        raise AssertionError("cloudpickle.loads was called")

    monkeypatch.setattr(save_util.cloudpickle, "loads", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    model, _ = load_policy(folder)
    expected, loaded = reference.policy.state_dict(), model.policy.state_dict()
    assert expected.keys() == loaded.keys()
    assert all(torch.equal(expected[name], loaded[name]) for name in expected)
    observations = np.random.default_rng(0).normal(size=(256, 11, 7)).astype(np.float32)
    actions, _ = model.predict(observations, deterministic=True)
    assert (actions == reference.predict(observations, deterministic=True)[0]).all()
    assert model.observation_space == reference.observation_space
    assert model.action_space == reference.action_space


def test_a_pickled_object_it_does_not_rebuild_is_refused_by_name(tmp_path):
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "policy.json").write_bytes((SHIPPED_POLICY / "policy.json").read_bytes())
    with zipfile.ZipFile(SHIPPED_POLICY / "policy.zip") as source:
        entries = {name: source.read(name) for name in source.namelist()}
    data = json.loads(entries["data"])
    payload = base64.b64encode(pickle.dumps(print)).decode()  # would run code when unpickled
    data["surprise"] = {":type:": "<class 'builtin_function_or_method'>", ":serialized:": payload}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(folder / "policy.zip", "w") as written:
        for name, content in entries.items():
            written.writestr(name, content)
    with pytest.raises(ConfigError, match=r"policy\.zip: holds a pickled 'surprise'"):
        load_policy(folder)
