"""The closed loop: simulator frame -> perception -> planner -> controller -> simulator."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from drive.metrics import EpisodeMetrics, episode_metrics
from drive.record import Recorder
from drive.stack import Stack, StackSpec
from sims.env import SimEnv
from sims.scenario import Scenario
from sims.video import VideoWriter, with_banner


@dataclass(frozen=True)
class EpisodeResult:
    """One episode: its seed, metrics, and (apart, since they vary run to run) wall-clock timings."""

    scenario: str
    seed: int
    metrics: EpisodeMetrics
    timing: dict[str, float] = field(compare=False)


def run_episode(
    scenario: Scenario, spec: StackSpec, seed: int, *, video_path: Path | None = None
) -> EpisodeResult:
    """Drive one episode of ``scenario`` with the stack ``spec`` from ``seed``.

    :param scenario: the scenario.
    :param spec: which perceiver, planner and controller to use.
    :param seed: the episode's seed; the same seed gives the same metrics, bit for bit.
    :param video_path: if given, every simulation step is rendered with an overlay into this mp4.
    :return: the episode's result.
    """
    started = time.perf_counter()

    # --- Set up: the stack, the simulator (rendering what the perceiver's camera sees, if it has
    # one, and what the video shows) and a recorder.
    stack = Stack.build(spec, dt_s=scenario.dt_s)
    camera = stack.perceiver.camera
    sim = SimEnv(
        scenario,
        render=video_path is not None or camera is not None,
        view=camera.view() if camera is not None else None,
    )
    stack.reset()
    frame = sim.reset(seed=seed)
    recorder = Recorder(dt_s=sim.dt_s, route_edges=sim.route_edges)
    video = VideoWriter(video_path, fps=scenario.simulation_hz) if video_path else None

    try:
        # --- The loop: perceive, plan, control, step; until the simulator ends the episode.
        while True:
            scene = stack.perceiver.perceive(frame)
            plan = stack.planner.plan(scene)
            command = stack.controller.control(scene.ego, plan)
            step = sim.step(
                acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
            )
            recorder.record(step, plan)
            if video is not None and step.frame.image is not None:
                video.append(with_banner(step.frame.image, recorder.banner(step, plan)))
            frame = step.frame
            if step.terminated or step.truncated:
                break
    except BaseException:
        if video is not None:
            video.close(keep=False)
        raise
    finally:
        sim.close()
    if video is not None:
        video.close()

    # --- Score the episode.
    metrics = episode_metrics(
        recorder.trajectory(
            controller_fallbacks=stack.controller.fallbacks,
            planner_overrides=stack.planner.overrides,
        ),
        ended_by_environment=step.terminated,
    )
    wall_s = time.perf_counter() - started
    timing = {
        "wall_s": wall_s,
        "steps_per_s": metrics.steps / wall_s,
        "perception_ms": stack.perceiver.clock.mean_ms,
        "planning_ms": stack.planner.clock.mean_ms,
        "control_ms": stack.controller.clock.mean_ms,
    }
    return EpisodeResult(scenario=scenario.id, seed=seed, metrics=metrics, timing=timing)
