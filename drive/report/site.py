"""``drive report``: a static site of one or more runs, opened from ``file://`` with no server.

The site is ``index.html`` (each run's scenarios and episodes in sortable tables, and for several
runs their comparison), one page per episode (its predicates, metrics and time series, drawn in the
browser by the uPlot file shipped in ``assets/``) and, on demand, videos of the failed and
worst-scoring episodes, replayed from their seeds with the stack's mind drawn over them.
Pages are rendered by Jinja2, which escapes every value taken from a run file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from drive.episode.scoring import COMFORT_BOUNDS, TTC_BOUND_S
from drive.report.compare import comparison_rows
from drive.report.runs import EpisodeView, RunView, read_run
from sims.files import atomic_path

ASSETS = Path(__file__).parent / "assets"
TEMPLATES = Path(__file__).parent / "templates"
PANELS = ("speed", "acceleration", "jerk", "lateral", "gaps", "lane")
"""The episode page's charts, in order (drawn by ``assets/report.js``)."""
CEILING_S = 10.0  # [s] TTC and time gaps are drawn up to this: beyond it, nothing is near
THRESHOLD_PREDICATES = ("min_ttc_s", "keeps_gap_s")  # drawn on the TTC and time-gap chart


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    index: Path
    pages: int
    videos: tuple[Path, ...]
    notes: tuple[str, ...]  # one per video: how its replay differs from the run ("" if not)


def pick_video_episodes(runs: list[RunView], count: int) -> list[EpisodeView]:
    """The episodes worth watching: every failed one first, then the lowest scores; ``count`` in all.

    :param runs: the report's runs.
    :param count: how many videos at most.
    :return: the episodes, failed first, each group by ascending score.
    """
    episodes = [episode for run in runs for episode in run.episodes]
    ordered = sorted(
        episodes, key=lambda e: (e.passed is not False, e.score, e.run, e.scenario, e.seed)
    )
    return ordered[:count]


def write_report(
    paths: list[Path],
    out: Path,
    *,
    make_videos: Callable[[list[RunView], Path], dict[str, str]] | None = None,
) -> ReportFiles:
    """Write the report of the run files ``paths`` into the folder ``out``.

    :param paths: eval or rollout JSON files; several make a comparison against the first.
    :param out: the report's folder (created; its pages and assets are replaced).
    :param make_videos: called with the runs and ``out/videos`` to render videos; returns each
        video's episode slug with a note (empty when the replay matched the run). None: no videos.
    :return: the files written.
    """
    runs = [read_run(Path(path), index) for index, path in enumerate(paths)]
    out.mkdir(parents=True, exist_ok=True)
    made = {} if make_videos is None else make_videos(runs, out / "videos")
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _copy_assets(out / "assets")
    comparison = comparison_rows(runs) if len(runs) > 1 else []
    if comparison:
        from drive.report.plots import write_speed_collisions

        write_speed_collisions(comparison, out / "speed-collisions.svg")
    index = out / "index.html"
    _write(
        index,
        environment.get_template("index.html").render(
            root="",
            runs=runs,
            predicate_table=_predicate_table(runs),
            videos=made,
            comparison=comparison,
        ),
    )
    page = environment.get_template("episode.html")
    pages = 0
    for run in runs:
        for episode in run.episodes:
            _write(
                out / "episodes" / f"{episode.slug}.html",
                page.render(
                    root="../",
                    run=run,
                    episode=episode,
                    video=episode.slug in made,
                    video_note=made.get(episode.slug, ""),
                    panels=PANELS,
                    data=_episode_data(episode),
                    decisions=_decision_spans(episode),
                ),
            )
            pages += 1
    written = tuple(out / "videos" / f"{slug}.webm" for slug in made)
    return ReportFiles(index=index, pages=pages, videos=written, notes=tuple(made.values()))


def _predicate_table(runs: list[RunView]) -> dict[int, dict[str, dict[str, dict[str, Any]]]]:
    """Per run and scenario, each predicate's values over the seeds, threshold and verdict."""
    table: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
    for run in runs:
        for scenario in run.scenarios:
            entries: dict[str, dict[str, Any]] = {}
            for episode in scenario.episodes:
                for predicate in episode.predicates:
                    entry = entries.setdefault(
                        predicate.name,
                        {"values": [], "threshold": predicate.threshold, "passed": True},
                    )
                    entry["values"].append(_short(predicate.value))
                    entry["passed"] = entry["passed"] and predicate.passed is not False
            table.setdefault(run.index, {})[scenario.scenario] = entries
    return table


def _short(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _episode_data(episode: EpisodeView) -> str | None:
    """The episode's series and the lines drawn against them, as JSON safe inside <script>."""
    if episode.series is None:
        return None
    record = episode.series.to_json()
    record["thresholds"] = {
        p.name: p.threshold
        for p in episode.predicates
        if p.name in THRESHOLD_PREDICATES and isinstance(p.threshold, int | float)
    }
    record["bounds"] = {
        "min_acceleration_mps2": COMFORT_BOUNDS["min_longitudinal_acceleration_mps2"],
        "max_acceleration_mps2": COMFORT_BOUNDS["max_longitudinal_acceleration_mps2"],
        "max_abs_jerk_mps3": COMFORT_BOUNDS["max_abs_longitudinal_jerk_mps3"],
        "max_abs_lateral_mps2": COMFORT_BOUNDS["max_abs_lateral_acceleration_mps2"],
        "ttc_bound_s": TTC_BOUND_S,
        "ceiling_s": CEILING_S,
    }
    # "</" would end the <script> element early; JSON allows "<\/" for it.
    return json.dumps(record, separators=(",", ":")).replace("</", "<\\/")


def _decision_spans(episode: EpisodeView) -> list[dict[str, Any]]:
    """The decision strip: each run of one decision, its share of the episode and start time."""
    series = episode.series
    if series is None or series.steps == 0:
        return []
    starts = [step for step, _ in series.decisions] + [series.steps]
    return [
        {
            "decision": decision,
            "share": (stop - step) / series.steps,
            "start_s": step * series.dt_s,
        }
        for (step, decision), stop in zip(series.decisions, starts[1:], strict=True)
    ]


def _copy_assets(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for asset in ASSETS.iterdir():
        if asset.is_file():
            shutil.copyfile(asset, folder / asset.name)


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
