"""Small rich tables for the terminal."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from sims.scenario import Scenario


def scenarios_table(scenarios: list[Scenario]) -> Table:
    """One row per scenario: id, environment and description with its length and events."""
    table = Table(title="Scenarios", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("env", no_wrap=True)
    table.add_column("description", overflow="fold")
    for scenario in scenarios:
        events = ", ".join(type(event).__name__ for event in scenario.events)
        details = f"{scenario.duration_s:g} s" + (f", events: {events}" if events else "")
        table.add_row(scenario.id, scenario.env, f"{scenario.description} ({details})")
    return table


def aggregate_table(title: str, aggregate: dict[str, Any]) -> Table:
    """The aggregate of a rollout as a two-column table."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in aggregate.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def episodes_table(episodes: list[dict[str, Any]], *, limit: int = 20) -> Table:
    """The first ``limit`` episodes, one row each."""
    table = Table(title="Episodes", title_justify="left")
    columns = [
        ("seed", "seed"),
        ("end", "termination"),
        ("speed (m/s)", "mean_speed_mps"),
        ("distance (m)", "distance_m"),
        ("return", "episode_return"),
        ("lane changes", "lane_changes"),
    ]
    for header, _ in columns:
        table.add_column(header, justify="right")
    for episode in episodes[:limit]:
        table.add_row(*(_format(episode[key]) for _, key in columns))
    return table


def _format(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
