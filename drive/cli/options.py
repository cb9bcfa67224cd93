"""Command-line options derived from the config dataclass they fill, so each is declared once.

A field declared with :func:`sims.strict.described` becomes an option: its name is the field's
without the unit suffix (``time_gap_s`` -> ``--time-gap``), its help, default and minimum are the
field's. A boolean that defaults to false is a flag (``--safety-layer``), one that defaults to true
can be turned off (``--far-lane-check/--no-far-lane-check``). A field that is itself such a dataclass
(the safety layer's margins) contributes its own fields. A value the dataclass refuses ends in one
line naming it, as every bad input does.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from sims.strict import ConfigError

UNIT_SUFFIXES = ("_mps2", "_mps", "_m", "_s")
PLANT_OPTION = typer.Option(
    help="The car every scenario drives (sims/plants.py); default: each scenario's own."
)


def config_command(
    config_type: type, *, extra: typing.Sequence[inspect.Parameter] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Make ``run(config, **extra)`` a typer command with one option per field of ``config_type``.

    :param config_type: a frozen dataclass whose fields are declared with ``described``.
    :param extra: options that are not part of the config (the output folder, ``--resume``),
        written as typer parameters; they come first and are passed to ``run`` by name.
    """

    def decorate(run: Callable[..., None]) -> Callable[..., None]:
        options = _options(config_type)
        names = {parameter.name for parameter in extra}
        every = [parameter.name for parameter in [*extra, *options]]
        if len(set(every)) != len(every):  # a nested field would silently take another's value
            repeated = sorted({name for name in every if every.count(name) > 1})
            raise TypeError(f"{config_type.__name__}: options named twice: {', '.join(repeated)}")

        def command(**values: Any) -> None:
            given = {name: values.pop(name) for name in names}
            try:
                config = _build(config_type, values)
            except ValueError as error:  # ConfigError included: one line naming the value
                raise ConfigError(str(error)) from None
            run(config, **given)

        parameters = [*extra, *options]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__doc__ = run.__doc__
        command.__name__ = run.__name__
        return command

    return decorate


def extra_option(
    name: str, kind: Any, help: str, *, default: Any = inspect.Parameter.empty, flag: bool = False
) -> inspect.Parameter:
    """An option of a command that is not a field of its config (see :func:`config_command`).

    :param name: the parameter's name; the option is ``--name`` with dashes.
    :param kind: its type.
    :param help: one line for ``--help``.
    :param default: its default; none makes the option required.
    :param flag: a boolean given as ``--name`` alone, without ``--no-name``.
    """
    declarations = ["--" + name.replace("_", "-")] if flag else []
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, typer.Option(*declarations, help=help)],
    )


RESUME = extra_option("resume", bool, "Continue the run in --out.", default=False, flag=True)


def option_name(field_name: str) -> str:
    """The option a field becomes: ``time_gap_s`` -> ``time_gap``."""
    for suffix in UNIT_SUFFIXES:
        if field_name.endswith(suffix):
            return field_name[: -len(suffix)]
    return field_name


def _options(config_type: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(config_type)
    options = []
    for field in dataclasses.fields(config_type):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            options += _options(kind)  # type: ignore[arg-type]
            continue
        if "help" not in field.metadata:
            raise TypeError(f"{config_type.__name__}.{field.name} has no help; use described()")
        name = field.metadata["flag"] or option_name(field.name)
        dashed = "--" + name.replace("_", "-")
        declarations = [dashed] if kind is bool and field.default is False else []
        # rich would read a unit such as "[s]" as markup
        settings: dict[str, Any] = {"help": field.metadata["help"].replace("[", "\\[")}
        if field.metadata["minimum"] is not None:
            settings["min"] = field.metadata["minimum"]
        annotation = Annotated[kind, typer.Option(*declarations, **settings)]  # type: ignore[valid-type]
        options.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=annotation
            )
        )
    return options


def _build(config_type: type, values: dict[str, Any]) -> Any:
    """The config from the options' values, nested dataclasses built first."""
    hints = typing.get_type_hints(config_type)
    arguments = {}
    for field in dataclasses.fields(config_type):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            arguments[field.name] = _build(kind, values)  # type: ignore[arg-type]
        else:
            arguments[field.name] = values.pop(field.metadata["flag"] or option_name(field.name))
    return config_type(**arguments)


RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        envvar="RAY_ADDRESS",
        help="Run on Ray: local (start one for this run, --workers CPUs), auto, or a head's "
        "HOST:PORT (docs/cluster.md).",
    ),
]
"""The ``--ray`` option of every command that runs episodes (sims.parallel)."""
