"""The report's videos: the episodes worth watching, replayed from their seeds as WebM.

A run file keeps metrics, not pixels; every episode is deterministic, so replaying its scenario,
stack and seed renders exactly the episode the run measured. Each replay's metrics are compared
with the run's, and a difference (another version of the stack, say) is noted beside its video.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from drive.episode.loop import run_episode
from drive.episode.mind import VideoStyle
from drive.episode.stack import StackSpec
from drive.report.runs import RunView
from drive.report.site import pick_video_episodes
from sims.parallel import Workers, run_jobs
from sims.scenario import Scenario, load_scenario
from sims.strict import ConfigError


def render_videos(
    runs: list[RunView],
    folder: Path,
    *,
    count: int,
    style: VideoStyle,
    workers: int = 1,
    on_video: Callable[[str], None] | None = None,
) -> dict[str, str]:
    """Replay the failed and worst-scoring episodes (:func:`pick_video_episodes`) into ``folder``.

    :param runs: the report's runs.
    :param folder: where ``<episode slug>.webm`` go.
    :param count: how many videos at most.
    :param style: the videos' layers and scale.
    :param workers: replays run in this many processes.
    :param on_video: called with each finished video's slug (for a progress bar).
    :return: each video's episode slug, with a note when the replay's metrics differ from the run's.
    :raises ConfigError: a scenario of the run cannot be loaded, so cannot be replayed.
    """
    picked = pick_video_episodes(runs, count)
    scenarios: dict[str, Scenario] = {}
    for episode in picked:
        if episode.scenario not in scenarios:
            try:
                scenarios[episode.scenario] = load_scenario(episode.scenario)
            except ConfigError as error:
                raise ConfigError(
                    f"cannot replay {episode.scenario} for its video ({error}); "
                    "--videos 0 writes the report without videos"
                ) from None
    jobs = [
        (
            scenarios[episode.scenario],
            StackSpec(**runs[episode.run].stack),
            episode.seed,
            folder / f"{episode.slug}.webm",
            style,
            episode.slug,
            episode.metrics,
        )
        for episode in picked
    ]
    notes: dict[str, str] = {}
    with closing(run_jobs(_replay, jobs, workers=Workers(workers))) as finished:
        for slug, note in finished:
            notes[slug] = note
            if on_video is not None:
                on_video(slug)
    return notes


def _replay(
    scenario: Scenario,
    stack: StackSpec,
    seed: int,
    path: Path,
    style: VideoStyle,
    slug: str,
    recorded: dict[str, Any],
) -> tuple[str, str]:
    """Render one episode; return its slug and a note on how its metrics differ from the run's."""
    result = run_episode(scenario, stack, seed, video_path=path, video_style=style)
    replayed = json.loads(json.dumps(asdict(result.metrics)))  # through JSON, as the run went
    changed = sorted(k for k in recorded if k in replayed and replayed[k] != recorded[k])
    if not changed:
        return slug, ""
    shown = ", ".join(f"{k} {recorded[k]!r} -> {replayed[k]!r}" for k in changed[:4])
    return slug, f"This replay differs from the run file ({shown}): another version of the stack?"
