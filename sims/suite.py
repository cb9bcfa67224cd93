"""Scenario suites: a named list of shipped scenarios run together, each on its own seeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sims.reading import read_toml, refusing
from sims.scenario import Scenario, load_scenario
from sims.strict import ConfigError, build, where

SUITE_DIR = Path(__file__).parent / "suites"
DEFAULT_TOLERANCE = 0.05
"""How far a scenario's score may drop below its baseline before it counts as a regression."""


@dataclass(frozen=True)
class Suite:
    """A suite file: which scenarios, and how far a score may drop before it counts as a regression."""

    description: str
    scenarios: tuple[str, ...]
    tolerance: float = DEFAULT_TOLERANCE

    def __post_init__(self) -> None:
        if not self.scenarios:
            raise ValueError("scenarios must list at least one scenario")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise ValueError(f"scenarios must be distinct, got {list(self.scenarios)}")
        if not 0 <= self.tolerance <= 1:
            raise ValueError(f"tolerance must be in [0, 1], got {self.tolerance}")


def load_suite(id_or_path: str | Path) -> tuple[Suite, list[Scenario]]:
    """Load a suite by id (``sims/suites/ID.toml``) or path, with its scenarios.

    A suite lists shipped scenario ids or scenario file paths; a relative path is taken from the
    suite file's folder, so a suite reads the same from wherever it is run.
    """
    text = str(id_or_path)
    path = Path(text) if text.endswith(".toml") or "/" in text else SUITE_DIR / f"{text}.toml"
    if not path.is_file():
        valid = ", ".join(sorted(p.stem for p in SUITE_DIR.glob("*.toml")))
        raise ConfigError(f"unknown suite '{text}'; valid suites: {valid}")
    document = read_toml(path)
    with refusing(path.name, "suite file"):
        suite = build(Suite, document, location=where(path, ""))
        return suite, [load_scenario(_beside(path, entry)) for entry in suite.scenarios]


def _beside(suite_path: Path, entry: str) -> str:
    """A suite's scenario entry: an id as it is, a relative file path from the suite's folder."""
    if (entry.endswith(".toml") or "/" in entry) and not Path(entry).is_absolute():
        return str(suite_path.parent / entry)
    return entry
