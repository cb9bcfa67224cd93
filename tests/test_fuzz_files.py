"""Property-based fuzzing (Hypothesis) of every file format the commands read.

Each format starts from a valid file the project ships or writes, and Hypothesis makes it bad:
random bytes, the file cut short, bytes flipped, or, parsed and written back, a key removed, a key
added, a value replaced (wrong types, NaN, infinities, huge numbers), weights of the wrong shape or
type, a card taken from another network. Whatever it makes, loading ends either in a valid object
or in one :class:`ConfigError` line that names the file: never another exception (which the
command line would print as a traceback). ``tests/test_cli.py``-style checks at the end run one
bad file of each kind through the ``drive`` command itself: exit code 2, one line, no output file.

The default tier runs :data:`EXAMPLES` cases per format; ``-m slow`` runs :data:`SLOW_EXAMPLES`.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from sims.strict import ConfigError
from tests.helpers import drive_in_process

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "perception" / "weights"
POLICIES = ROOT / "planning" / "rl" / "policies"
EXAMPLES = 50  # per format in the default tier: 11 formats, 550 cases
SLOW_EXAMPLES = 500

# Values that break loaders: wrong types, NaN, infinities, huge and negative numbers.
NASTY = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 10**400, 2**63, math.nan, math.inf, -math.inf, 1e308, -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(min_value=-5, max_value=5), max_size=2),
)


def _paths(document: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(draw: Callable, document: Any, *, toml: bool) -> Any:
    """``document`` with one value replaced, one key removed or one key added, somewhere."""
    document = json.loads(json.dumps(document))  # a deep copy
    path = draw(st.sampled_from(_paths(document)))
    if not path:
        return document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    operation = draw(st.sampled_from(["replace", "remove", "add"]))
    nasty = NASTY if toml else st.one_of(st.none(), NASTY)
    if operation == "remove" or (operation == "add" and isinstance(parent, list)):
        del parent[path[-1]]
    elif operation == "add":
        parent[draw(st.text(min_size=1, max_size=8))] = draw(nasty)
    else:
        parent[path[-1]] = draw(nasty)
    return document


def _damaged(draw: Callable, valid: bytes) -> bytes:
    """``valid`` cut short, with bytes flipped, or random bytes."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return draw(st.binary(max_size=256))
    if kind == "truncated":
        return valid[: draw(st.integers(min_value=0, max_value=max(len(valid) - 1, 0)))]
    damaged = bytearray(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        damaged[draw(st.integers(min_value=0, max_value=len(valid) - 1))] ^= draw(
            st.integers(min_value=1, max_value=255)
        )
    return bytes(damaged)


def _text_file(draw: Callable, valid: bytes, *, toml: bool) -> bytes:
    """A text format: damaged bytes, or the parsed document mutated and written back."""
    if draw(st.booleans()):
        return _damaged(draw, valid)
    parsed = tomli_w_loads(valid) if toml else json.loads(valid)
    document = _mutate(draw, parsed, toml=toml)
    if toml:
        if not isinstance(document, dict):
            return b""
        return tomli_w.dumps(document).encode()
    return json.dumps(document, allow_nan=True).encode()


def tomli_w_loads(data: bytes) -> Any:
    import tomllib

    return tomllib.loads(data.decode())


def _weights(draw: Callable, valid: Path) -> bytes | None:
    """Safetensors bytes: damaged, or tensors of the wrong shape, type or values, or one missing
    or added; None keeps the valid file."""
    choice = draw(st.sampled_from(["keep", "bytes", "shape", "dtype", "nan", "drop", "extra"]))
    if choice == "keep":
        return None
    if choice == "bytes":
        return _damaged(draw, valid.read_bytes())
    tensors = load_file(valid)
    with safe_open(str(valid), framework="pt") as handle:
        metadata = handle.metadata()  # the GANs' generator spec: kept, so the tensors are checked
    name = draw(st.sampled_from(sorted(tensors)))
    if choice == "shape":
        tensors[name] = torch.zeros(tensors[name].numel() + draw(st.integers(1, 3)))
    elif choice == "dtype":
        tensors[name] = tensors[name].to(draw(st.sampled_from([torch.int32, torch.float64])))
    elif choice == "nan":
        tensors[name] = torch.full_like(tensors[name].float(), math.nan)
    elif choice == "drop":
        del tensors[name]
    else:
        tensors["extra." + name] = torch.zeros(2)
    with tempfile.TemporaryDirectory() as scratch:
        save_file(tensors, str(Path(scratch) / "w.safetensors"), metadata=metadata)
        return (Path(scratch) / "w.safetensors").read_bytes()


@dataclass(frozen=True)
class Format:
    """A file format: how to make a bad copy of a valid one in ``folder``, and how to load it."""

    make: Callable[[Callable, Path], Path]  # (draw, folder) -> the path to load
    load: Callable[[Path], Any]


def _scenario(draw: Callable, folder: Path) -> Path:
    path = folder / "fuzzed.toml"
    path.write_bytes(
        _text_file(draw, (ROOT / "sims/scenarios/cut-in.toml").read_bytes(), toml=True)
    )
    return path


def _suite(draw: Callable, folder: Path) -> Path:
    valid = b'description = "two"\nscenarios = ["u-turn", "merge"]\ntolerance = 0.05\n'
    path = folder / "fuzzed-suite.toml"
    path.write_bytes(_text_file(draw, valid, toml=True))
    return path


def _result(name: str) -> Callable[[Callable, Path], Path]:
    def make(draw: Callable, folder: Path) -> Path:
        path = folder / "fuzzed.json"
        path.write_bytes(_text_file(draw, (ROOT / name).read_bytes(), toml=False))
        return path

    return make


def _weights_folder(source: str, others: tuple[str, ...]) -> Callable[[Callable, Path], Path]:
    """A weights folder: its card mutated or taken from another network, its weights damaged."""

    def make(draw: Callable, folder: Path) -> Path:
        target = folder / "weights"
        target.mkdir()
        valid = WEIGHTS / source
        weights = _weights(draw, valid / "best.safetensors")
        if weights is None:
            shutil.copy(valid / "best.safetensors", target / "best.safetensors")
        else:
            (target / "best.safetensors").write_bytes(weights)
        card = draw(st.sampled_from(["keep", "mutate", "other"]))
        if card == "other":
            shutil.copy(WEIGHTS / draw(st.sampled_from(others)) / "card.json", target / "card.json")
        elif card == "mutate" or weights is None:
            text = _text_file(draw, (valid / "card.json").read_bytes(), toml=False)
            (target / "card.json").write_bytes(text)
        else:
            shutil.copy(valid / "card.json", target / "card.json")
        return target

    return make


def _policy(draw: Callable, folder: Path) -> Path:
    target = folder / "policy"
    target.mkdir()
    valid = POLICIES / "default"
    shutil.copy(valid / "policy.zip", target / "policy.zip")
    shutil.copy(valid / "policy.json", target / "policy.json")
    part = draw(st.sampled_from(["card", "zip", "data"]))
    if part == "card":
        text = _text_file(draw, (valid / "policy.json").read_bytes(), toml=False)
        (target / "policy.json").write_bytes(text)
    elif part == "zip":
        (target / "policy.zip").write_bytes(_damaged(draw, (valid / "policy.zip").read_bytes()))
    else:  # the parameters SB3 keeps as JSON inside the zip
        import zipfile

        with zipfile.ZipFile(valid / "policy.zip") as source:
            entries = {name: source.read(name) for name in source.namelist()}
        entries["data"] = _text_file(draw, entries["data"], toml=False)
        with zipfile.ZipFile(target / "policy.zip", "w") as written:
            for name, data in entries.items():
                written.writestr(name, data)
    return target


def _dataset(draw: Callable, folder: Path) -> Path:
    from sims.dataset import MANIFEST

    target = folder / "data"
    target.mkdir()
    frames = {
        "width_px": 16,
        "height_px": 8,
        "scaling_px_per_m": 2.0,
        "stack": 1,
        "stride_steps": 1,
    }
    manifest = {
        "config": {"scenario": "highway", "episodes": 1, "frames": frames},
        "shards": [{"shard": 0, "file": "shard-00000.npz", "seeds": [0], "samples": 2}],
    }
    valid_shard = folder / "valid.npz"
    np.savez_compressed(valid_shard, images=np.zeros((2, 1, 8, 16, 3), np.uint8), x=np.zeros(2))
    (target / MANIFEST).write_bytes(
        _text_file(draw, json.dumps(manifest).encode(), toml=False)
        if draw(st.booleans())
        else json.dumps(manifest).encode()
    )
    shard = valid_shard.read_bytes()
    (target / "shard-00000.npz").write_bytes(
        _damaged(draw, shard) if draw(st.booleans()) else shard
    )
    return target


def _load_dataset(folder: Path) -> Any:
    from perception.train import frame_spec
    from sims.dataset import load_shards

    frame_spec(folder)
    return load_shards(folder)


def _load_scenario(path: Path) -> Any:
    from sims.scenario import load_scenario

    return load_scenario(path)


def _load_suite(path: Path) -> Any:
    from sims.suite import load_suite

    return load_suite(path)


def _load_baseline(path: Path) -> Any:
    from drive.runs.eval_suite import read_baseline

    return read_baseline(path)


def _load_result(path: Path) -> Any:
    from drive.cli.report import comparison_rows

    return comparison_rows([path])


def _load_network(folder: Path) -> Any:
    from perception.camera import load_network

    return load_network(folder)


def _load_detector(folder: Path) -> Any:
    from perception.detector import load_detector

    return load_detector(folder, device="cpu")


def _load_generator(kind: str) -> Callable[[Path], Any]:
    def load(folder: Path) -> Any:
        from perception.gan import load_generator

        return load_generator(folder, kind=kind, device="cpu")

    return load


def _load_policy(folder: Path) -> Any:
    from planning.rl.checkpoint import load_policy

    return load_policy(folder)


FORMATS: dict[str, Format] = {
    "scenario": Format(_scenario, _load_scenario),
    "suite": Format(_suite, _load_suite),
    "eval-baseline": Format(_result("sims/suites/regression-baseline.json"), _load_baseline),
    "rollout-result": Format(_result("docs/results/highway-rules.json"), _load_result),
    "baseline-result": Format(_result("docs/results/highway-baseline-dqn.json"), _load_result),
    "perception-weights": Format(_weights_folder("stn-cnn", ("detector", "cgan")), _load_network),
    "detector-weights": Format(_weights_folder("detector", ("stn-cnn", "dcgan")), _load_detector),
    "cgan-weights": Format(_weights_folder("cgan", ("dcgan",)), _load_generator("cgan")),
    "dcgan-weights": Format(_weights_folder("dcgan", ("cgan",)), _load_generator("dcgan")),
    "policy": Format(_policy, _load_policy),
    "dataset": Format(_dataset, _load_dataset),
}


def check_format(name: str, examples: int, *, derandomize: bool = False) -> None:
    """Run ``examples`` Hypothesis cases of format ``name``: each loads or refuses in one line.

    :param derandomize: the same cases every run (the default tier, which gates CI); the ``slow``
        tier draws new ones each time, to find what the fixed cases miss.
    """
    fmt = FORMATS[name]

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def loads_or_refuses_in_one_line(data: st.DataObject) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            path = fmt.make(data.draw, Path(scratch))
            try:
                fmt.load(path)
            except ConfigError as error:
                message = str(error)
                assert "\n" not in message, message
                assert path.name in message, f"the message does not name {path}: {message}"

    loads_or_refuses_in_one_line()


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_bad_file_is_refused_in_one_line(name):
    check_format(name, EXAMPLES, derandomize=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_bad_file_is_refused_in_one_line_at_length(name):
    check_format(name, SLOW_EXAMPLES)


RANDOM_BYTES = bytes(range(256)) * 4  # not UTF-8, not a zip, not a safetensors header


def _bad_folder(folder: Path, *names: str) -> Path:
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(RANDOM_BYTES)
    return folder


# A bad input of each kind through the command that reads it: (arguments, the file it names).
# `{bad}` is the bad file or folder, `{out}` an output the command must not leave behind.
COMMANDS = {
    "scenario": (["rollout", "--scenario", "{bad}", "--json", "{out}"], "bad.toml"),
    "suite": (["eval", "--suite", "{bad}", "--json", "{out}"], "bad.toml"),
    "eval-baseline": (
        ["eval", "--suite", "regression", "--baseline", "{bad}", "--json", "{out}"],
        "bad.json",
    ),
    "result": (["compare", "{bad}", "--plot", "{out}"], "bad.json"),
    "policy": (
        ["rollout", "--scenario", "u-turn", "--planner", "{bad}", "--json", "{out}"],
        "policy.json",
    ),
    "detector-weights": (
        ["detect", "--video", "{bad}/best.safetensors", "--weights", "{bad}", "--out", "{out}"],
        "card.json",
    ),
    "cgan-weights": (["synthesize", "--from", "{bad}", "--weights", "{bad}", "--out", "{out}"], ""),
    "dataset": (
        ["train-perception", "--data", "{bad}", "--validation", "{bad}", "--out", "{out}"],
        "manifest.json",
    ),
}


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_commands_refuse_a_bad_file_in_one_line_and_write_nothing(kind, tmp_path):
    arguments, named = COMMANDS[kind]
    if named.endswith((".toml", ".json")) and kind not in ("policy", "detector-weights", "dataset"):
        bad = tmp_path / named
        bad.write_bytes(RANDOM_BYTES)
    else:
        files = {"policy": ("policy.zip", "policy.json"), "dataset": ("manifest.json",)}
        bad = _bad_folder(tmp_path / "bad", *files.get(kind, ("best.safetensors", "card.json")))
    out = tmp_path / "out" / "result"
    result = drive_in_process(*(a.format(bad=bad, out=out) for a in arguments))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert named in lines[0], lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
