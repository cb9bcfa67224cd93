"""The report's summary plots, drawn by matplotlib into SVG files.

The episodes' time series are drawn in the browser by uPlot (``assets/uPlot.iife.min.js``, shipped
with the package, MIT) from the data in each episode's page: matplotlib took about a second per
six-panel episode figure on the 2-core reference machine, a minute for a 48-episode suite, where
the report must be written in seconds.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from sims.files import atomic_path

_SETTINGS: dict[str, Any] = {
    "svg.fonttype": "none",  # text as text: a fraction of the size of glyph outlines
    "svg.hashsalt": "drive-report",  # the same SVG for the same data, run after run
    "font.size": 8,
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, whatever the machine has
    import matplotlib.pyplot as plt

    return plt


def write_speed_collisions(rows: list[dict[str, Any]], path: Path) -> None:
    """The runs' mean speed against their collision rate (:func:`comparison_figure`) as SVG.

    :param rows: one per run: ``planner`` (its label), ``episodes``, ``collision_rate``,
        ``collision_interval``, ``mean_speed_mps`` and ``speed_interval_mps``.
    :param path: the SVG to write.
    """
    from drive.runs.comparison import comparison_figure

    plt = _pyplot()
    with plt.rc_context(_SETTINGS):
        figure = comparison_figure(rows)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    plt.close(figure)
    with atomic_path(path) as temporary:
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
