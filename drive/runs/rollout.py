"""Many episodes of one scenario and stack, spread over workers (processes or Ray), summarised as JSON."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drive.episode.loop import EpisodeResult, run_episode
from drive.episode.mind import VideoStyle
from drive.episode.series import episode_series
from drive.episode.stack import StackSpec
from sims.machine import machine_description
from sims.parallel import Workers, run_jobs
from sims.provenance import package_versions, provenance
from sims.scenario import Scenario
from sims.strict import ConfigError
from sims.video import CODECS


def episode_seeds(seed: int, episodes: int) -> list[int]:
    """Seeds of the episodes of a rollout: ``seed, seed + 1, ...``, whatever the number of workers."""
    return [seed + k for k in range(episodes)]


@dataclass(frozen=True)
class RolloutRequest:
    """What to run: a scenario, a stack, how many episodes from which seed, and an optional video."""

    scenario: Scenario
    stack: StackSpec
    episodes: int
    seed: int
    workers: int = 1
    video_path: Path | None = None  # the first episode is recorded here
    video_style: VideoStyle | None = None  # its layers and scale (default: all, as rendered)
    ray: str | None = None  # run on Ray: "local", "auto" or a head's HOST:PORT

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.video_path is not None and self.video_path.suffix not in CODECS:
            raise ConfigError(f"{self.video_path}: videos are {' or '.join(CODECS)} files")

    @property
    def pool(self) -> Workers:
        """Where the episodes run."""
        return Workers(self.workers, self.ray)


def run_rollout(
    request: RolloutRequest, *, on_episode: Callable[[EpisodeResult], None] | None = None
) -> list[EpisodeResult]:
    """Run every episode of ``request``; results come back in seed order.

    :param request: what to run.
    :param on_episode: called in the main process as each episode finishes (for progress bars).
    :return: the finished episodes in seed order. On Ctrl-C, the episodes finished so far are
        available through ``on_episode``; the interrupt is re-raised.
    """
    seeds = episode_seeds(request.seed, request.episodes)
    videos = [request.video_path if k == 0 else None for k in range(len(seeds))]
    results: dict[int, EpisodeResult] = {}
    with closing(_run_all(request, seeds, videos)) as finished:  # closed even on Ctrl-C
        for result in finished:
            results[result.seed] = result
            if on_episode is not None:
                on_episode(result)
    return [results[seed] for seed in seeds]


def _run_all(
    request: RolloutRequest, seeds: list[int], videos: list[Path | None]
) -> Generator[EpisodeResult, None, None]:
    jobs = [(seed, video) for seed, video in zip(seeds, videos, strict=True)]
    return run_jobs(
        _episode,
        jobs,
        workers=request.pool,
        shared=(request.scenario, request.stack, request.video_style),
        files=request.stack.files(),
    )


def _episode(
    scenario: Scenario,
    stack: StackSpec,
    style: VideoStyle | None,
    seed: int,
    video: Path | None,
) -> EpisodeResult:
    return run_episode(scenario, stack, seed, video_path=video, video_style=style)


def aggregate(results: list[EpisodeResult]) -> dict[str, float | int]:
    """Summary over episodes: rates and means of the per-episode metrics."""
    if not results:
        return {"episodes": 0}
    metrics = [r.metrics for r in results]

    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 6)

    minutes = sum(m.duration_s for m in metrics) / 60.0
    return {
        "episodes": len(metrics),
        "collision_rate": mean([float(m.collided) for m in metrics]),
        "at_fault_collision_rate": mean([float(m.at_fault_collision) for m in metrics]),
        "mean_score": mean([m.score for m in metrics]),
        "off_road_rate": mean([float(m.off_road) for m in metrics]),
        "mean_speed_mps": mean([m.mean_speed_mps for m in metrics]),
        "mean_distance_m": mean([m.distance_m for m in metrics]),
        "mean_return": mean([m.episode_return for m in metrics]),
        "lane_changes_per_min": round(sum(m.lane_changes for m in metrics) / max(minutes, 1e-9), 6),
        "comfortable_rate": mean([float(m.comfortable) for m in metrics]),
        "controller_fallbacks": sum(m.controller_fallbacks for m in metrics),
        "planner_overrides": sum(m.planner_overrides for m in metrics),
    }


def rollout_document(
    request: RolloutRequest, results: list[EpisodeResult], *, complete: bool
) -> dict[str, Any]:
    """The rollout's JSON: config, one record per episode, the aggregate, and timings kept apart.

    Everything outside ``timing`` and ``provenance`` is a deterministic function of the request.
    """
    results = sorted(results, key=lambda r: r.seed)
    return {
        "config": {
            "scenario": request.scenario.id,
            "env": request.scenario.env,
            "stack": request.stack.as_dict(),
            "seed": request.seed,
            "episodes_requested": request.episodes,
            "complete": complete,
            "versions": package_versions(),
        },
        "provenance": provenance(request.stack.files(plants=(request.scenario.plant,))),
        "episodes": [{"seed": r.seed, **asdict(r.metrics)} for r in results],
        "aggregate": aggregate(results),
        "series": {  # each episode's time series, for `drive report`
            str(r.seed): episode_series(r.trajectory).to_json()
            for r in results
            if r.trajectory is not None
        },
        "timing": {
            "workers": request.workers,
            "ray": request.ray,
            "machine": machine_description(),
            "episodes": [
                {"seed": r.seed, **{k: round(v, 4) for k, v in r.timing.items()}} for r in results
            ],
        },
    }
