"""The closed loop on real highway-env: it drives, records, and repeats itself exactly."""

from __future__ import annotations

import numpy as np

from drive.episode.loop import ClosedLoop, run_episode
from drive.episode.stack import Stack, StackSpec
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


def test_the_loops_steps_run_to_the_episodes_end_and_close_the_simulator(monkeypatch):
    loop = ClosedLoop(SHORT, Stack.build(StackSpec(), dt_s=SHORT.dt_s))
    loop.reset(seed=7)
    closed = []
    close = loop.sim.close
    monkeypatch.setattr(loop.sim, "close", lambda: (closed.append(True), close()))
    steps = list(loop.steps())
    assert len(steps) == run_episode(SHORT, StackSpec(), seed=7).metrics.steps
    assert steps[-1].sim.terminated or steps[-1].sim.truncated
    assert not any(step.sim.terminated or step.sim.truncated for step in steps[:-1])
    assert closed == [True]


def test_different_seeds_differ():
    assert (
        run_episode(SHORT, StackSpec(), seed=1).metrics
        != run_episode(SHORT, StackSpec(), seed=2).metrics
    )


def test_video_has_one_frame_per_step(tmp_path):
    from drive.episode.mind import CHART_HEIGHT_PX
    from sims.video import BANNER_HEIGHT_PX, read_video

    result = run_episode(SHORT, StackSpec(), seed=3, video_path=tmp_path / "episode.mp4")
    frames = read_video(tmp_path / "episode.mp4")
    assert len(frames) == result.metrics.steps
    assert frames[0].shape[0] == 150 + BANNER_HEIGHT_PX + CHART_HEIGHT_PX  # every layer by default


def test_video_layers_draw_the_plan_prediction_and_boxes(tmp_path):
    from drive.episode.mind import GREEN, MAGENTA, VideoStyle
    from sims.video import read_video

    def colour_pixels(style: VideoStyle, name: str) -> tuple[int, int, tuple[int, ...]]:
        run_episode(SHORT, StackSpec(), seed=3, video_path=tmp_path / name, video_style=style)
        frame = read_video(tmp_path / name)[20].astype(int)
        near = [np.all(np.abs(frame - colour) <= 40, axis=-1).sum() for colour in (GREEN, MAGENTA)]
        return near[0], near[1], frame.shape

    green, magenta, shape = colour_pixels(VideoStyle(layers=("plan", "mpc"), scale=2), "on.mp4")
    bare_green, bare_magenta, bare_shape = colour_pixels(VideoStyle(layers=()), "off.mp4")
    assert shape[1] == 2 * bare_shape[1]  # --scale 2
    assert green > 50 and magenta > 20  # the plan's line and the MPC's predicted dots
    assert bare_green < green / 10 and bare_magenta < magenta / 10
