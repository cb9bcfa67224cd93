"""Command-line options derived from a config dataclass (drive/cli/options.py)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from drive.cli.options import config_command, option_name
from sims.strict import ConfigError, described

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Margins:
    gap_m: float = described(10.0, "Gap [m].", minimum=0.0)
    check: bool = described(True, "Check the lane beyond.")

    def __post_init__(self) -> None:
        if self.gap_m > 100:
            raise ValueError(f"gap_m must be at most 100, got {self.gap_m}")


@dataclass(frozen=True)
class Toy:
    steps: int = described(5, "Steps.", minimum=1)
    time_gap_s: float = described(1.5, "Time gap [s].")
    guarded: bool = described(False, "With the layer.")
    margins: Margins = Margins()


def _app(received: list) -> typer.Typer:
    out = inspect.Parameter(
        "out", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[str, typer.Option()]
    )

    @config_command(Toy, extra=[out])
    def run(config: Toy, *, out: str) -> None:
        """Run the toy."""
        received.append((config, out))

    app = typer.Typer()
    app.command()(run)
    app.command("other")(lambda: None)  # two commands, so that ``run`` is invoked by name
    return app


def test_option_names_drop_the_unit():
    assert [option_name(n) for n in ("time_gap_s", "gap_m", "speed_mps2", "steps")] == [
        "time_gap",
        "gap",
        "speed",
        "steps",
    ]


def test_every_field_becomes_an_option_with_its_default_and_nested_fields_too():
    received: list = []
    result = CliRunner().invoke(_app(received), ["run", "--out", "x"])
    assert result.exit_code == 0, result.output
    assert received == [(Toy(), "x")]
    args = ["run", "--out", "y", "--steps", "7", "--time-gap", "0.6", "--guarded"]
    args += ["--gap", "3", "--no-check"]
    result = CliRunner().invoke(_app(received), args)
    assert result.exit_code == 0, result.output
    assert received[-1] == (Toy(7, 0.6, True, Margins(3.0, False)), "y")


def test_a_minimum_is_enforced_by_the_command_line():
    result = CliRunner().invoke(_app([]), ["run", "--out", "x", "--steps", "0"])
    assert result.exit_code == 2 and "--steps" in result.output


def test_a_value_the_dataclass_refuses_is_a_config_error_naming_it():
    with pytest.raises(ConfigError, match="gap_m must be at most 100, got 500.0"):
        CliRunner().invoke(_app([]), ["run", "--out", "x", "--gap", "500"], catch_exceptions=False)


def test_a_field_without_help_is_refused_when_the_command_is_built():
    @dataclass(frozen=True)
    class Bare:
        steps: int = 5

    with pytest.raises(TypeError, match="Bare.steps has no help"):
        config_command(Bare)(lambda config: None)


def test_an_option_named_twice_is_refused_when_the_command_is_built():
    @dataclass(frozen=True)
    class Twice:
        gap_m: float = described(1.0, "Gap [m].")
        margins: Margins = Margins()  # also has gap_m

    with pytest.raises(TypeError, match="options named twice: gap"):
        config_command(Twice)(lambda config: None)
