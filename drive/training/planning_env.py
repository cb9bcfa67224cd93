"""A gymnasium environment in which one step is one planner decision, executed through the stack.

Each step the policy picks one of its interface's decisions (:mod:`planning.rl.interface`:
:data:`~planning.rl.executor.ACTIONS` for ``highway``); for the next decision period
the configured perceiver, the :class:`~planning.rl.executor.PolicyExecutor` and the configured
controller (the MPC by default) drive highway-env at the simulation rate in
:class:`~drive.episode.loop.ClosedLoop`, the loop of ``drive rollout`` itself. The reward is
:func:`~planning.rl.reward.decision_reward`, shared with the batched engine; with the ``road``
interface, its progress term is the road's (:func:`~planning.rl.reward.road_speed_range_mps`) and
arriving earns :func:`~planning.rl.reward.arrival_reward`.

The scenario may name several roads, ``"merge,roundabout,intersection"``: each episode drives one,
drawn with the environment's generator (or named by ``reset(options={"scenario": ...})``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from control.registry import make_controller
from drive.episode.loop import ClosedLoop
from drive.episode.stack import Stack, StackSpec
from perception.registry import make_perceiver
from planning.rl.executor import DEFAULT_EXECUTOR, ExecutorConfig, PolicyExecutor
from planning.rl.interface import interface_of
from planning.rl.reward import (
    COLLISION_PENALTY,
    DECISION_PERIOD_S,
    arrival_reward,
    decision_reward,
    road_collision_penalty,
    road_reward_scale,
    road_speed_range_mps,
)
from sims.constants import REWARD_SPEED_RANGE_MPS
from sims.scenario import Scenario, load_scenario

# Seeds: training draws episodes from TRAINING_SEEDS; the periodic evaluation uses VALIDATION_SEEDS;
# the reported evaluation starts at 100000, which neither touches.
TRAINING_SEEDS = (0, 90_000)
VALIDATION_SEED = 90_000


@dataclass(frozen=True)
class EnvConfig:
    """What the planning environment simulates and with which stack stages.

    ``scenario`` is one scenario id or TOML path, or several separated by commas.
    """

    scenario: str = "highway"
    perception: str = "groundtruth"
    controller: str = "mpc"
    safety_layer: bool = False
    executor_config: ExecutorConfig = DEFAULT_EXECUTOR
    interface: str = "highway"

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The roads trained on, in the order given."""
        return scenario_names(self.scenario)


def scenario_names(text: str) -> tuple[str, ...]:
    """``"merge, roundabout"`` as ``("merge", "roundabout")``; a ValueError for an empty name."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise ValueError(f"scenario list {text!r} has an empty name")
    return names


class PlanningEnv(gym.Env):
    """One decision per step; see the module docstring.

    ``reset(options={"episode_seed": s})`` plays highway-env's episode ``s``; without it, the seed is
    drawn from :data:`TRAINING_SEEDS` with the environment's own generator.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None) -> None:
        self.config = config or EnvConfig()
        self.interface = interface_of(self.config.interface)
        self.executor = PolicyExecutor(
            safety_layer=self.config.safety_layer, executor_config=self.config.executor_config
        )
        self.scenarios = [load_scenario(name) for name in self.config.scenarios]
        self._loops: dict[int, ClosedLoop] = {}  # built on first use: one highway-env per road
        self.road = 0
        self.action_space = gym.spaces.Discrete(len(self.interface.actions))
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=self.interface.observation_shape, dtype=np.float32
        )
        self._speeds: list[float] = []
        self._speed_range_mps = REWARD_SPEED_RANGE_MPS
        self._collision_penalty = COLLISION_PENALTY

    @property
    def scenario(self) -> Scenario:
        """The road of the current episode."""
        return self.scenarios[self.road]

    @property
    def loop(self) -> ClosedLoop:
        """The closed loop of the current episode's road."""
        if self.road not in self._loops:
            stack = Stack(
                spec=StackSpec(
                    perception=self.config.perception,
                    planner="executor",
                    controller=self.config.controller,
                ),
                perceiver=make_perceiver(self.config.perception),
                planner=self.executor,
                controller=make_controller(
                    self.config.controller, dt_s=self.scenario.dt_s, plant=self.scenario.plant
                ),
            )
            self._loops[self.road] = ClosedLoop(self.scenario, stack)
        return self._loops[self.road]

    @property
    def steps_per_decision(self) -> int:
        return max(1, round(DECISION_PERIOD_S / self.scenario.dt_s))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        if "scenario" in options:
            self.road = self.config.scenarios.index(str(options["scenario"]))
        else:
            self.road = int(self.np_random.integers(len(self.scenarios)))
        if "episode_seed" in options:
            episode_seed = int(options["episode_seed"])
        else:
            episode_seed = int(self.np_random.integers(*TRAINING_SEEDS))
        self.loop.reset(seed=episode_seed)
        self._speeds = []
        self._speed_range_mps = self._road_speed_range()
        self._collision_penalty = (
            road_collision_penalty(self.scenario.duration_s)
            if self.interface.road
            else COLLISION_PENALTY
        )
        info = {"episode_seed": episode_seed, "scenario": self.config.scenarios[self.road]}
        return self._observe(), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        decision = self.interface.actions[int(action)]
        overrides_before = self.executor.overrides
        self.executor.decide(decision, self.loop.perceive())
        speeds, accelerations = [], []
        terminated = truncated = False
        for _ in range(self.steps_per_decision):
            step = self.loop.step()
            speeds.append(step.sim.frame.truth.ego.speed_mps)
            accelerations.append(step.command.acceleration_mps2)
            terminated, truncated = step.sim.terminated, step.sim.truncated
            if terminated or truncated:
                break
        crashed = step.sim.frame.truth.ego.crashed
        self._speeds.extend(speeds)
        reward = decision_reward(
            float(np.mean(speeds)),
            float(decision.lane_change),
            float(np.mean(np.square(accelerations))),
            float(crashed),
            speed_range_mps=self._speed_range_mps,
            collision_penalty=self._collision_penalty,
        )
        if self.interface.road and terminated and not crashed and step.sim.frame.truth.ego.on_road:
            # the end of the route
            reward += arrival_reward(self.scenario.duration_s - step.sim.frame.truth.time_s)
        if self.interface.road:
            reward *= road_reward_scale(self.scenario.duration_s)
        info: dict[str, Any] = {
            "crashed": crashed,
            "overridden": self.executor.overrides > overrides_before,
        }
        if terminated or truncated or crashed:
            info["episode_crashed"] = crashed
            info["episode_mean_speed_mps"] = float(np.mean(self._speeds))
        return self._observe(), reward, bool(terminated or crashed), bool(truncated), info

    def close(self) -> None:
        for loop in self._loops.values():
            loop.close()

    def _observe(self) -> np.ndarray:
        return self.interface.observe(self.loop.perceive(), self.executor)

    def _road_speed_range(self) -> tuple[float, float]:
        """The progress term's speeds: highway-v0's for the highway interface, the road's for the
        road interface (:func:`~planning.rl.reward.road_speed_range_mps`)."""
        if not self.interface.road:
            return REWARD_SPEED_RANGE_MPS
        configured = self.loop.sim.highway_env.config.get("reward_speed_range")
        scene = self.loop.perceive()
        lane = scene.lane(scene.ego.lane.index)
        assert lane is not None, "perception always reports the ego's lane"
        return road_speed_range_mps(configured, lane.speed_limit_mps)
