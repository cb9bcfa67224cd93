"""The closed loop on real highway-env: it drives, records, and repeats itself exactly."""

from __future__ import annotations

from drive.episode.loop import run_episode
from drive.episode.stack import StackSpec
from sims.scenario import Scenario

SHORT = Scenario(
    id="short",
    description="",
    env="highway-fast-v0",
    duration_s=4.0,
    env_config={"vehicles_count": 15},
)


def test_episode_runs_to_its_duration_and_is_deterministic():
    first = run_episode(SHORT, StackSpec(), seed=7)
    second = run_episode(SHORT, StackSpec(), seed=7)
    assert first.metrics.steps == 60  # 4 s at 15 Hz
    assert first.metrics.termination in ("time", "collision")
    assert first.metrics == second.metrics
    assert first.metrics.distance_m > 50


def test_different_seeds_differ():
    assert (
        run_episode(SHORT, StackSpec(), seed=1).metrics
        != run_episode(SHORT, StackSpec(), seed=2).metrics
    )


def test_video_has_one_frame_per_step(tmp_path):
    from sims.video import BANNER_HEIGHT_PX, read_video

    result = run_episode(SHORT, StackSpec(), seed=3, video_path=tmp_path / "episode.mp4")
    frames = read_video(tmp_path / "episode.mp4")
    assert len(frames) == result.metrics.steps
    assert frames[0].shape[0] == 150 + BANNER_HEIGHT_PX
