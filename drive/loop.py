"""The closed loop: simulator frame -> perception -> planner -> controller -> simulator."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drive.metrics import EpisodeMetrics, Trajectory, episode_metrics
from drive.stack import Stack, StackSpec
from planning.base import Plan
from sims.env import SimEnv, SimStep
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

    # --- Set up: the simulator, the stack and a recorder.
    sim = SimEnv(scenario, render=video_path is not None)
    stack = Stack.build(spec, dt_s=sim.dt_s)
    stack.reset()
    frame = sim.reset(seed=seed)
    recorder = _Recorder(dt_s=sim.dt_s)
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
        recorder.trajectory(stack.controller.fallbacks),
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


class _Recorder:
    """Collects the per-step values the metrics need."""

    def __init__(self, *, dt_s: float) -> None:
        self.dt_s = dt_s
        self.rows: list[tuple[float, ...]] = []
        self.changes: list[bool] = []
        self.return_so_far = 0.0  # time-integrated reward, as in the metrics
        self._last_decision = "cruise"

    def record(self, step: SimStep, plan: Plan) -> None:
        ego = step.frame.truth.ego
        self.rows.append(
            (
                ego.x_m,
                ego.y_m,
                ego.heading_rad,
                ego.speed_mps,
                step.reward,
                ego.crashed,
                ego.on_road,
            )
        )
        started = plan.decision.startswith("change") and plan.decision != self._last_decision
        self.changes.append(started)
        self._last_decision = plan.decision
        self.return_so_far += step.reward * self.dt_s

    def banner(self, step: SimStep, plan: Plan) -> str:
        truth = step.frame.truth
        return (
            f"t {truth.time_s:5.1f} s | {truth.ego.speed_mps * 3.6:5.1f} km/h | "
            f"{plan.decision.replace('_', ' ')} -> lane {plan.target_lane.index} "
            f"@ {plan.target_speed_mps * 3.6:3.0f} km/h | return {self.return_so_far:5.2f}"
        )

    def trajectory(self, fallbacks: int) -> Trajectory:
        columns = np.array(self.rows, dtype=np.float64).reshape(-1, 7).T
        return Trajectory(
            dt_s=self.dt_s,
            x_m=columns[0],
            y_m=columns[1],
            heading_rad=columns[2],
            speed_mps=columns[3],
            reward=columns[4],
            crashed=columns[5].astype(bool),
            on_road=columns[6].astype(bool),
            lane_change_started=np.array(self.changes, dtype=bool),
            controller_fallbacks=fallbacks,
        )
