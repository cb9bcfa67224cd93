"""Strict construction of frozen config dataclasses from TOML tables.

highway-env silently ignores a misspelt config key; here every unknown key, missing key or wrong type is
an error that names the key, the file and what is allowed (shared/CONVENTIONS.md, item 6).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file holds an unknown key, a missing key or a value of the wrong type."""


def where(source: Path | str | None, table: str) -> str:
    """Name a table of a file for error messages, e.g. ``highway.toml [events.0]``."""
    name = Path(source).name if source is not None else "<config>"
    return f"{name} [{table}]" if table else name


def check_keys(table: Mapping[str, Any], allowed: typing.Iterable[str], *, location: str) -> None:
    """Raise :class:`ConfigError` naming the first key of ``table`` that is not in ``allowed``."""
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{location}: unknown key '{key}'; valid keys: {', '.join(allowed)}")


def build(cls: type[T], table: Mapping[str, Any], *, location: str) -> T:
    """Build the frozen dataclass ``cls`` from ``table``, checking keys and types strictly.

    :param cls: a dataclass whose fields have simple annotations (bool, int, float, str, Literal,
        tuple[X, ...], X | None).
    :param table: the parsed TOML table.
    :param location: where the table comes from, for error messages.
    :return: the dataclass instance; its ``__post_init__`` may add its own checks.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{location}: expected a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(table, fields, location=location)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name in table:
            values[name] = coerce(table[name], hints[name], location=f"{location} key '{name}'")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{location}: missing key '{name}'")
    try:
        return cls(**values)
    except ValueError as error:
        raise ConfigError(f"{location}: {error}") from None


def coerce(value: Any, annotation: Any, *, location: str) -> Any:
    """Check ``value`` against ``annotation`` and convert TOML lists to tuples and ints to floats."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            if option is type(None) and value is None:
                return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, location=location)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{location}: {value!r} is not one of {allowed}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{location}: expected a list, got {_describe(value)}")
        item_type = args[0]
        return tuple(coerce(v, item_type, location=location) for v in value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{location}: expected a number, got {_describe(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{location}: expected a finite number, got {value!r}")
        return float(value)
    if annotation in (int, str, bool):
        if isinstance(value, bool) != (annotation is bool) or not isinstance(value, annotation):
            raise ConfigError(f"{location}: expected {annotation.__name__}, got {_describe(value)}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} at {location}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def described(
    default: Any, help: str, *, minimum: float | None = None, flag: str | None = None
) -> Any:
    """A config dataclass field with its command-line help: the option is declared here, once,
    and ``drive.cli.options`` derives the command line from it.

    :param default: the field's default.
    :param help: one line for ``--help``, with the unit.
    :param minimum: the smallest value the command line accepts.
    :param flag: the option's name where it is not the field's (without its unit suffix).
    """
    return dataclasses.field(
        default=default, metadata={"help": help, "minimum": minimum, "flag": flag}
    )
