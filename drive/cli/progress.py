"""The progress bar every long ``drive`` command shows, in one place."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    console: Console,
    label: str = "{task.description}",
    *,
    status: bool = False,
    remaining: bool = False,
) -> Progress:
    """A bar with a label, done out of total, and the elapsed time.

    :param label: the label's text, or a template such as ``{task.description}``.
    :param status: also show the task's ``status`` field (a running figure such as collisions).
    :param remaining: also estimate the time left.
    """
    columns: list[ProgressColumn] = [
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    if remaining:
        columns.append(TimeRemainingColumn())
    if status:
        columns.append(TextColumn("{task.fields[status]}"))
    return Progress(*columns, console=console)
