"""What the pytest plugin runs: one judged episode, its artifacts when it fails, and the baseline.

Imported only when a scenario item or the ``drive_episode`` fixture runs, never when pytest loads
the plugin (:mod:`drive.testing.plugin`), since it brings in torch and highway-env.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from drive.episode.loop import run_episode
from drive.episode.metrics import EpisodeMetrics
from drive.episode.predicates import PredicateResult, evaluate
from drive.episode.stack import StackSpec
from drive.episode.trajectory import Trajectory
from sims.files import write_json
from sims.scenario import Scenario
from sims.strict import ConfigError


@dataclass(frozen=True)
class DriveEpisode:
    """One closed-loop episode, judged by its scenario's ``[criteria]``; what the ``drive_episode``
    fixture returns.

    :param scenario: the scenario driven.
    :param seed: the episode's seed.
    :param stack: the perceiver, planner and controller, by name.
    :param metrics: the episode's metrics (:class:`drive.episode.metrics.EpisodeMetrics`).
    :param trajectory: every simulation step's state (:class:`drive.episode.trajectory.Trajectory`).
    :param predicates: each criterion's verdict with the value it measured.
    :param wall_s: how long the episode took [s].
    """

    scenario: Scenario
    seed: int
    stack: StackSpec
    metrics: EpisodeMetrics
    trajectory: Trajectory
    predicates: tuple[PredicateResult, ...]
    wall_s: float

    @property
    def passed(self) -> bool:
        """Whether every predicate of the scenario's criteria passed."""
        return all(p.passed for p in self.predicates)

    def failures(self) -> str:
        """The failed predicates, each with its measured value and threshold ('' when none)."""
        return "; ".join(p.describe() for p in self.predicates if not p.passed)

    def record(self, *, source: str) -> dict[str, Any]:
        """The episode as plain JSON-able values: for the summary table (sent from pytest-xdist's
        workers with the test report), the results file and the failure JSON.

        :param source: where the scenario came from (its file, or the test that ran it).
        """
        return _plain(
            {
                "scenario": self.scenario.id,
                "env": self.scenario.env,
                "source": source,
                "seed": self.seed,
                "stack": self.stack.as_dict(),
                "passed": self.passed,
                "predicates": [asdict(p) for p in self.predicates],
                "metrics": asdict(self.metrics),
                "wall_s": round(self.wall_s, 3),
            }
        )


def drive_one(
    scenario: Scenario, stack: StackSpec, seed: int, *, video_path: Path | None = None
) -> DriveEpisode:
    """Drive one episode of ``scenario`` with ``stack`` from ``seed`` and judge it.

    :param scenario: the scenario.
    :param stack: the stage names; an unknown one raises :class:`ConfigError` listing the valid ones.
    :param seed: the episode's seed.
    :param video_path: if given, the episode is rendered into this mp4.
    :return: the judged episode.
    """
    if "XDG_RUNTIME_DIR" not in os.environ:
        # SDL (under pygame's offscreen rendering: a video, a camera perceiver) prints an error
        # on stderr without a runtime folder, into every such item's report; the drive command
        # gives it one the same way.
        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="drive-xdg-")
    result = run_episode(scenario, stack, seed, video_path=video_path)
    assert result.trajectory is not None  # run_episode always records it
    return DriveEpisode(
        scenario=scenario,
        seed=seed,
        stack=stack,
        metrics=result.metrics,
        trajectory=result.trajectory,
        predicates=tuple(evaluate(scenario.criteria, result.metrics)),
        wall_s=result.timing["wall_s"],
    )


def write_artifacts(episode: DriveEpisode, folder: Path, *, source: str) -> tuple[Path, Path]:
    """Drive a failed episode again with a video, and write its mp4 and JSON into ``folder``.

    Episodes are deterministic, so the rerun is the same episode; if its metrics differ anyway
    (a stack with randomness of its own), the JSON says so.

    :param episode: the failed episode.
    :param folder: where ``episode.mp4`` and ``episode.json`` go (created if missing).
    :param source: where the scenario came from, recorded in the JSON.
    :return: the paths of the mp4 and the JSON.
    """
    video = folder / "episode.mp4"
    rerun = drive_one(episode.scenario, episode.stack, episode.seed, video_path=video)
    document = episode.record(source=source)
    document["video_metrics_identical"] = rerun.metrics == episode.metrics
    document["trajectory"] = _plain(
        {
            f.name: getattr(episode.trajectory, f.name)
            for f in fields(episode.trajectory)
            if f.name not in ("controller_fallbacks", "planner_overrides")
        }
    )
    path = write_json(folder / "episode.json", document)
    return video, path


@dataclass(frozen=True)
class Baseline:
    """Per-episode scores of an earlier results file (``drive eval --json`` or ``--drive-json``).

    :param path: the file.
    :param scores: score by (scenario id, seed).
    """

    path: Path
    scores: dict[tuple[str, int], float]

    @classmethod
    def load(cls, path: Path) -> Baseline:
        """Read a results file; a file of another kind is a :class:`ConfigError` naming it."""
        try:
            document = json.loads(Path(path).read_text())
            scores = {
                (scenario_id, int(episode["seed"])): float(episode["score"])
                for scenario_id, entry in document["scenarios"].items()
                for episode in entry["episodes"]
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise ConfigError(
                f"{path}: not a drive eval or --drive-json results file ({error})"
            ) from None
        return cls(Path(path), scores)

    def regression(self, episode: DriveEpisode, tolerance: float) -> str | None:
        """Why ``episode`` counts as a regression (its score fell more than ``tolerance`` below the
        baseline's for the same scenario and seed), or None."""
        before = self.scores.get((episode.scenario.id, episode.seed))
        if before is None or before - episode.metrics.score <= tolerance:
            return None
        return (
            f"score {episode.metrics.score:.3f} fell {before - episode.metrics.score:.3f} below "
            f"the baseline's {before:.3f} ({self.path}), beyond the tolerance {tolerance}"
        )

    def score(self, scenario_id: str, seed: int) -> float | None:
        """The baseline's score of one episode, if it has it."""
        return self.scores.get((scenario_id, seed))


def _plain(value: Any) -> Any:
    """``value`` as JSON's types: arrays as lists, NaN and infinities as None, numpy scalars as
    Python's, tuples as lists."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
