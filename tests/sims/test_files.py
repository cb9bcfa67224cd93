"""Atomic writes: the old file survives a failed write, and nothing is left beside it."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path

import numpy as np
import pytest

from sims.files import atomic_path, save_torch, write_json


def test_a_clean_write_replaces_the_file_and_is_readable_by_all(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "result.json"
    write_json(path, {"speed_mps": 1.5})
    write_json(path, {"speed_mps": 2.5})
    assert json.loads(path.read_text()) == {"speed_mps": 2.5}
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    write_json(path, {"epoch": 1})
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as temporary:
        temporary.write_text('{"epoch": ')
        raise KeyboardInterrupt
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_nan_is_refused_rather_than_written_as_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with pytest.raises(ValueError):
        write_json(path, {"speed_mps": math.nan})
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_keeps_the_suffix_so_numpy_writes_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "shard-00000.npz"
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, x=np.arange(3))
    assert np.load(path)["x"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.npz"]


def test_save_torch_round_trips(tmp_path: Path) -> None:
    import torch

    save_torch({"step": 7, "weights": torch.ones(2)}, tmp_path / "last.pt")
    state = torch.load(tmp_path / "last.pt")
    assert state["step"] == 7 and state["weights"].tolist() == [1.0, 1.0]


def test_a_resumed_run_removes_the_temporaries_a_killed_one_left(tmp_path):
    from sims.files import atomic_path, remove_temporaries

    (tmp_path / "last").mkdir()
    left = [
        tmp_path / ".state.json.ab12cd_9.json",  # atomic_path's, killed mid-write
        tmp_path / "last" / ".replay_buffer.pkl.9lw8u0yy.pkl",
    ]
    staging = tmp_path / "last" / ".policy-staging-abcd1234"  # save_policy's folder
    staging.mkdir()
    kept = [tmp_path / "state.json", tmp_path / ".gitignore", tmp_path / "last" / "policy.zip"]
    for path in [*left, *kept, staging / "policy.zip"]:
        path.write_text("x")
    remove_temporaries(tmp_path)
    assert not any(path.exists() for path in [*left, staging])
    assert all(path.exists() for path in kept)
    (tmp_path / ".card.json.zz99yy88.json").write_text("half")
    with atomic_path(
        tmp_path / "card.json"
    ) as temporary:  # the next write of a file clears its own
        temporary.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".card")) == []
