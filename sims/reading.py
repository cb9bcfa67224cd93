"""Reading the files a command is given: any failure is one line naming the file and what is wrong.

Every loader of a scenario, suite, card, manifest, result or weights file reads through these, so
that random bytes, a truncated file, a wrong type or a missing key end in a :class:`ConfigError`
(exit code 2, one line) rather than a traceback, and nothing is filled in by a silent default.
The property-based tests in ``tests/test_fuzz_files.py`` feed every format such files.
"""

from __future__ import annotations

import json
import math
import sys
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sims.strict import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MESSAGE_CHARS = 300  # an error longer than this (a state dict's every key) is cut, to stay one line


def one_line(text: str) -> str:
    """``text`` on one line, its whitespace collapsed and cut to :data:`MESSAGE_CHARS`."""
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 3] + "..."


# What reading a malformed file raises, besides ConfigError: a missing key or item, a wrong type, a
# bad value (UnicodeDecodeError and JSONDecodeError are ValueErrors), an unreadable file, a bad zip,
# a truncated stream, and the errors of torch, numpy and safetensors (RuntimeError and theirs).
READ_ERRORS: tuple[type[BaseException], ...] = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    OSError,
    EOFError,
    RuntimeError,
    OverflowError,
    zipfile.BadZipFile,
    zlib.error,
)


def _safetensors_error() -> tuple[type[BaseException], ...]:
    try:
        from safetensors import SafetensorError
    except ImportError:  # pragma: no cover - safetensors is a dependency
        return ()
    return (SafetensorError,)


@contextmanager
def refusing(path: Path | str, what: str) -> Iterator[None]:
    """Turn any reading error inside the block into one :class:`ConfigError` line naming ``path``.

    :param path: the file (or folder) being read.
    :param what: what it should have been, e.g. ``"policy card"``.
    """
    try:
        yield
    except ConfigError as error:
        text = str(error)
        named = str(path) in text or Path(path).name in text
        raise ConfigError(one_line(text if named else f"{path}: {text}")) from None
    except (*READ_ERRORS, *_safetensors_error()) as error:
        detail = f"{type(error).__name__}: {error}"
        raise ConfigError(one_line(f"{path}: not a {what} ({detail})")) from None


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML document in ``path``.

    :raises ConfigError: not UTF-8, not TOML, or unreadable.
    """
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path.name}: not a UTF-8 text file ({error.reason} at byte {error.start})"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path.name}: not valid TOML: {error}") from None


def read_json(path: Path, what: str, *, allow_nan: bool = False) -> Any:
    """The JSON document in ``path``.

    :param what: what the file should be, for the error message.
    :param allow_nan: accept ``NaN`` and ``Infinity`` (training cards write NaN for a metric with
        nothing to measure); by default they are refused like any other invalid value.
    :raises ConfigError: unreadable, not UTF-8, not JSON, or holding NaN or infinities.
    """

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(one_line(f"{path}: cannot be read ({error})")) from None
    with refusing(path, what):
        text = data.decode("utf-8")
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=refuse)


def expect(value: Any, kind: type | tuple[type, ...], *, path: Path | str, key: str) -> Any:
    """``value`` if it is a ``kind`` (a bool is no number here, and a float must be finite).

    :raises ConfigError: naming ``path``, ``key``, what was expected and what came.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(
            f"{path}: key '{key}': expected {names}, got {type(value).__name__} {value!r:.60}"
        )
    return value


def checked_state(tensors: Mapping[str, Any], expected: Mapping[str, Any], *, path: Path) -> dict:
    """The tensors of a weights file, checked against the state dict of the network they fill.

    Every name must be there and no other, each of the expected shape, floating-point where the
    network's is (converted to its precision) and otherwise of its exact type, and finite: a
    weights file of another architecture, or one a crash left with NaN, is refused by name.

    :param tensors: name -> tensor, as read from the file.
    :param expected: the network's ``state_dict()``.
    :param path: the weights file, for the message.
    :return: the tensors, ready for ``load_state_dict(..., strict=True)``.
    :raises ConfigError: the first tensor that does not fit.
    """
    import torch

    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        names = ", ".join(
            [*(f"missing {n}" for n in missing[:3]), *(f"extra {n}" for n in extra[:3])]
        )
        raise ConfigError(f"{path}: not the weights of this network ({names})")
    state = {}
    for name, want in expected.items():
        given = tensors[name]
        if tuple(given.shape) != tuple(want.shape):
            raise ConfigError(
                f"{path}: tensor {name} has shape {list(given.shape)}, the network needs {list(want.shape)}"
            )
        if want.is_floating_point() != given.is_floating_point() or (
            not want.is_floating_point() and given.dtype != want.dtype
        ):
            raise ConfigError(
                f"{path}: tensor {name} is {given.dtype}, the network needs {want.dtype}"
            )
        if given.is_floating_point() and not bool(torch.isfinite(given).all()):
            raise ConfigError(f"{path}: tensor {name} holds NaN or infinite values")
        state[name] = given.to(want.dtype)
    return state
