"""The closed loop: simulator frame -> perception -> planner -> controller -> simulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from control.base import Command
from drive.episode.metrics import EpisodeMetrics, episode_metrics
from drive.episode.mind import MindView, VideoStyle
from drive.episode.record import Recorder
from drive.episode.stack import Stack, StackSpec
from drive.episode.trajectory import Trajectory
from perception.base import SceneState
from planning.base import Plan
from sims.env import SimEnv, SimFrame, SimStep
from sims.scenario import Scenario
from sims.video import VideoWriter


@dataclass(frozen=True)
class EpisodeResult:
    """One episode: its seed, metrics, the trajectory they were computed from, and (apart, since
    they vary run to run) wall-clock timings."""

    scenario: str
    seed: int
    metrics: EpisodeMetrics
    timing: dict[str, float] = field(compare=False)
    trajectory: Trajectory | None = field(default=None, compare=False, repr=False)


class ClosedLoop:
    """The stack driving one simulator, one control step at a time: perceive, plan, control, step.

    :func:`run_episode` and the planning environment (:mod:`drive.training.planning_env`) both
    drive through it, so a policy is trained in exactly the loop it is deployed in.

    :param scenario: the scenario.
    :param stack: the three stages.
    :param render: render every step (for a video); a perceiver with a camera always has its
        frames rendered, as its camera sees them.
    """

    def __init__(self, scenario: Scenario, stack: Stack, *, render: bool = False) -> None:
        self.stack = stack
        camera = stack.perceiver.camera
        self.sim = SimEnv(
            scenario,
            render=render or camera is not None,
            view=camera.view() if camera is not None else None,
        )
        self.frame: SimFrame | None = None

    def reset(self, *, seed: int) -> SimFrame:
        """Start episode ``seed`` in every stage and in the simulator; return its first frame."""
        self.stack.reset()
        self.frame = self.sim.reset(seed=seed)
        return self.frame

    def perceive(self) -> SceneState:
        """What the perceiver makes of the current frame."""
        assert self.frame is not None, "call reset() first"
        return self.stack.perceiver.perceive(self.frame)

    def step(self) -> LoopStep:
        """One control step of the whole stack."""
        scene = self.perceive()
        plan = self.stack.planner.plan(scene)
        command = self.stack.controller.control(scene.ego, plan)
        step = self.sim.step(
            acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
        )
        self.frame = step.frame
        return LoopStep(sim=step, scene=scene, plan=plan, command=command)

    def steps(self) -> Iterator[LoopStep]:
        """Every control step until the simulator ends the episode, the last one included; the
        simulator is closed when they run out, or when the caller stops early or fails."""
        try:
            while True:
                step = self.step()
                yield step
                if step.sim.terminated or step.sim.truncated:
                    return
        finally:
            self.close()

    def close(self) -> None:
        self.sim.close()


@dataclass(frozen=True)
class LoopStep:
    """What one control step did: the simulator's step, the scene perceived before it, the plan
    and the command."""

    sim: SimStep
    scene: SceneState
    plan: Plan
    command: Command


def run_episode(
    scenario: Scenario,
    spec: StackSpec,
    seed: int,
    *,
    video_path: Path | None = None,
    video_style: VideoStyle | None = None,
) -> EpisodeResult:
    """Drive one episode of ``scenario`` with the stack ``spec`` from ``seed``.

    :param scenario: the scenario.
    :param spec: which perceiver, planner and controller to use.
    :param seed: the episode's seed; the same seed gives the same metrics, bit for bit.
    :param video_path: if given, every simulation step is rendered with an overlay into this video
        (``.mp4`` or ``.webm``).
    :param video_style: the video's layers and scale (default: every layer, as rendered).
    :return: the episode's result.
    """
    started = time.perf_counter()

    # --- Set up: the stack in its loop around the simulator, and a recorder.
    stack = Stack.build(spec, dt_s=scenario.dt_s, plant=scenario.plant)
    loop = ClosedLoop(scenario, stack, render=video_path is not None)
    loop.reset(seed=seed)
    recorder = Recorder(dt_s=loop.sim.dt_s, route_edges=loop.sim.route_edges)
    video = VideoWriter(video_path, fps=scenario.simulation_hz) if video_path else None
    mind = MindView(video_style or VideoStyle(), sim=loop.sim, stack=stack)

    try:
        # --- The loop: perceive, plan, control, step; until the simulator ends the episode.
        while True:
            done = loop.step()
            step, plan = done.sim, done.plan
            recorder.record(step, plan)
            if video is not None and step.frame.image is not None:
                video.append(mind.frame(step.frame.image, done, recorder))
            if step.terminated or step.truncated:
                break
    except BaseException:
        if video is not None:
            video.close(keep=False)
        raise
    finally:
        loop.close()
    if video is not None:
        video.close()

    # --- Score the episode.
    trajectory = recorder.trajectory(
        controller_fallbacks=stack.controller.fallbacks,
        planner_overrides=stack.planner.overrides,
    )
    metrics = episode_metrics(trajectory, ended_by_environment=step.terminated)
    wall_s = time.perf_counter() - started
    timing = {
        "wall_s": wall_s,
        "steps_per_s": metrics.steps / wall_s,
        "perception_ms": stack.perceiver.clock.mean_ms,
        "planning_ms": stack.planner.clock.mean_ms,
        "control_ms": stack.controller.clock.mean_ms,
    }
    return EpisodeResult(
        scenario=scenario.id, seed=seed, metrics=metrics, timing=timing, trajectory=trajectory
    )
