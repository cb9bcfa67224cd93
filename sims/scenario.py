"""Scenario files: a highway-env environment, its config overrides, the episode length, seeds, events.

A scenario is a TOML file; its id is the file name without ``.toml``. The shipped ones live in
``sims/scenarios/``; any other path works too. Loading is strict: an unknown key, a wrong type, an
unknown environment or an env-config key the environment does not have is a :class:`ConfigError` that
names the file, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sims.environments import ENVIRONMENTS, STACK_OWNED_KEYS
from sims.events import EVENTS, EventSpec
from sims.plants import DEFAULT_PLANT, PLANTS, plant_named
from sims.reading import read_toml, refusing
from sims.strict import ConfigError, build, check_keys, where

SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = "highway-dense"


@dataclass(frozen=True)
class Criteria:
    """Pass criteria of a scenario: named predicates on the episode's metrics.

    Boolean predicates are checked when true; threshold predicates when set. The defaults ask for
    no at-fault collision, staying on the road and making progress.
    """

    no_at_fault_collision: bool = True
    no_collision: bool = False
    stays_on_road: bool = True
    makes_progress: bool = True
    reaches_destination: bool = False
    min_ttc_s: float | None = None  # [s] smallest time to collision with the vehicle ahead
    keeps_gap_s: float | None = None  # [s] smallest time headway to the vehicle ahead
    min_score: float | None = None  # driving score in [0, 1]
    max_lane_changes_per_min: float | None = None
    min_route_completion: float | None = None  # share of the route's edges reached, in [0, 1]
    min_mean_speed_mps: float | None = None  # [m/s] the episode's mean speed

    def __post_init__(self) -> None:
        for name in ("min_ttc_s", "keeps_gap_s", "max_lane_changes_per_min", "min_mean_speed_mps"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        for name in ("min_score", "min_route_completion"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class Scenario:
    """One driving scenario.

    :param id: short name, the file name without ``.toml``.
    :param description: one line shown by ``drive scenarios``.
    :param env: a highway-env environment id from :data:`sims.environments.ENVIRONMENTS`.
    :param duration_s: episode length [s] (highway-env's ``duration`` is set to it); the episode
        ends earlier only when the environment terminates it (a crash, an arrival).
    :param seeds: default seeds for tests and suites.
    :param simulation_hz: simulation and control rate [Hz]; every step is rendered.
    :param destination: road-network node the ego drives to (roundabout, intersection...), if any.
    :param env_config: highway-env config overrides, checked against the environment's own keys.
    :param events: scripted events.
    :param criteria: what an episode must achieve to pass.
    :param plant: the ego's dynamics, a name of :data:`sims.plants.PLANTS` (``--plant`` overrides it).
    """

    id: str
    description: str
    env: str
    duration_s: float
    seeds: tuple[int, ...] = (0,)
    simulation_hz: int = 15
    destination: str | None = None
    env_config: dict[str, Any] = field(default_factory=dict, hash=False)  # read-only by convention
    events: tuple[EventSpec, ...] = ()
    criteria: Criteria = field(default_factory=Criteria)
    plant: str = DEFAULT_PLANT

    def __post_init__(self) -> None:
        if self.plant not in PLANTS:
            raise ValueError(f"unknown plant '{self.plant}'; valid: {', '.join(PLANTS)}")
        if self.env not in ENVIRONMENTS:
            raise ValueError(
                f"unknown env '{self.env}'; valid envs: {', '.join(sorted(ENVIRONMENTS))}"
            )
        if not 0 < self.duration_s <= 3600:
            raise ValueError(f"duration_s must be in (0, 3600], got {self.duration_s}")
        if not 1 <= self.simulation_hz <= 100:
            raise ValueError(f"simulation_hz must be in [1, 100], got {self.simulation_hz}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")
        if min(self.seeds) < 0 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct and >= 0, got {list(self.seeds)}")
        if self.criteria.reaches_destination and self.destination is None:
            raise ValueError("criteria 'reaches_destination' needs a 'destination'")

    @property
    def dt_s(self) -> float:
        """Simulation and control step [s]."""
        return 1.0 / self.simulation_hz


_TOP_LEVEL = (
    "description",
    "env",
    "duration_s",
    "seeds",
    "simulation_hz",
    "destination",
    "plant",
)


def load_scenario(id_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by id, or any scenario file by path.

    :param id_or_path: an id listed by :func:`scenario_ids` or a path to a ``.toml`` file.
    :return: the validated scenario.
    :raises ConfigError: for an unknown id, a missing file or any invalid content.
    """
    path = resolve_scenario_path(id_or_path)
    document = read_toml(path)
    with refusing(path.name, "scenario file"):
        return parse_scenario(document, source=path)


def parse_scenario(document: Mapping[str, Any], *, source: Path) -> Scenario:
    """Validate a parsed scenario document; ``source`` names the file in error messages."""
    location = where(source, "")
    check_keys(document, (*_TOP_LEVEL, "env_config", "events", "criteria"), location=location)
    top = {key: document[key] for key in _TOP_LEVEL if key in document}
    env_config = _parse_env_config(document.get("env_config", {}), top.get("env"), source=source)
    events = tuple(
        _parse_event(table, source=source, number=n)
        for n, table in enumerate(document.get("events", []))
    )
    plain = build(_TopLevel, top, location=location)
    criteria = build(Criteria, document.get("criteria", {}), location=where(source, "criteria"))
    try:
        return Scenario(
            id=source.stem,
            description=plain.description,
            env=plain.env,
            duration_s=plain.duration_s,
            seeds=plain.seeds,
            simulation_hz=plain.simulation_hz,
            destination=plain.destination,
            plant=plain.plant,
            env_config=env_config,
            events=events,
            criteria=criteria,
        )
    except ValueError as error:
        raise ConfigError(f"{location}: {error}") from None


def with_plant(scenario: Scenario, plant: str | None) -> Scenario:
    """``scenario`` driving the car ``plant`` (``--plant``), or its own car when None.

    :raises ConfigError: for an unknown plant, listing the valid ones.
    """
    if plant is None:
        return scenario
    plant_named(plant)
    return dataclasses.replace(scenario, plant=plant)


def resolve_scenario_path(id_or_path: str | Path) -> Path:
    """Turn a scenario id or path into an existing file path, or raise :class:`ConfigError`."""
    text = str(id_or_path)
    if text.endswith(".toml") or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"{text}: no such scenario file")
        return path
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown scenario '{text}'; valid ids: {', '.join(scenario_ids())}")
    return path


def scenario_ids() -> list[str]:
    """Ids of the shipped scenarios, sorted."""
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


@dataclass(frozen=True)
class _TopLevel:
    description: str
    env: str
    duration_s: float
    seeds: tuple[int, ...] = (0,)
    simulation_hz: int = 15
    destination: str | None = None
    plant: str = DEFAULT_PLANT


def _parse_env_config(table: Any, env_id: Any, *, source: Path) -> dict[str, Any]:
    location = where(source, "env_config")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{location}: expected a table")
    if env_id not in ENVIRONMENTS:
        valid = ", ".join(sorted(ENVIRONMENTS))
        raise ConfigError(f"{where(source, '')}: key 'env': unknown env {env_id!r}; valid: {valid}")
    defaults = ENVIRONMENTS[env_id].default_config()
    for key, value in table.items():
        if key in STACK_OWNED_KEYS:
            raise ConfigError(f"{location}: key '{key}' is set by the stack, not by scenarios")
        check_keys({key: value}, set(defaults) - STACK_OWNED_KEYS, location=location)
        _check_like(value, defaults[key], location=f"{location} key '{key}'")
    return dict(table)


def _check_like(value: Any, default: Any, *, location: str) -> None:
    """Check that ``value`` has the type of highway-env's default for the same key."""
    if default is None:
        return
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, int | float):
        # highway-env writes some real-valued keys with integer defaults (vehicles_density = 1), so
        # a number is accepted, except a fraction where the key counts or names something.
        counts = location.endswith(
            ("_count'", "_id'", "controlled_vehicles'", "_width'", "_height'")
        )
        ok = isinstance(value, int) if counts else isinstance(value, int | float)
    elif isinstance(default, list | tuple):
        ok = isinstance(value, list | tuple)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(
            f"{location}: expected {type(default).__name__} like the default {default!r}, "
            f"got {type(value).__name__} {value!r}"
        )


def _parse_event(table: Any, *, source: Path, number: int) -> EventSpec:
    location = where(source, f"events.{number}")
    if not isinstance(table, Mapping) or "kind" not in table:
        raise ConfigError(f"{location}: each event needs a 'kind'; valid: {', '.join(EVENTS)}")
    kind = table["kind"]
    if kind not in EVENTS:
        raise ConfigError(f"{location}: unknown event kind {kind!r}; valid: {', '.join(EVENTS)}")
    fields = {key: value for key, value in table.items() if key != "kind"}
    return build(EVENTS[kind], fields, location=location)
