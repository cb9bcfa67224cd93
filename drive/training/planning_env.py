"""A gymnasium environment in which one step is one planner decision, executed through the stack.

Each step the policy picks one of :data:`~planning.rl.executor.ACTIONS`; for the next decision period
the configured perceiver, the :class:`~planning.rl.executor.PolicyExecutor` and the configured
controller (the MPC by default) drive highway-env at the simulation rate in
:class:`~drive.episode.loop.ClosedLoop`, the loop of ``drive rollout`` itself. The reward is
:func:`~planning.rl.reward.decision_reward`, shared with the batched engine.
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
from planning.rl.encoding import FEATURES, VEHICLES, encode
from planning.rl.executor import ACTIONS, DEFAULT_EXECUTOR, ExecutorConfig, PolicyExecutor
from planning.rl.reward import DECISION_PERIOD_S, decision_reward
from sims.scenario import load_scenario

# Seeds: training draws episodes from TRAINING_SEEDS; the periodic evaluation uses VALIDATION_SEEDS;
# the reported evaluation starts at 100000, which neither touches.
TRAINING_SEEDS = (0, 90_000)
VALIDATION_SEED = 90_000


@dataclass(frozen=True)
class EnvConfig:
    """What the planning environment simulates and with which stack stages."""

    scenario: str = "highway"
    perception: str = "groundtruth"
    controller: str = "mpc"
    safety_layer: bool = False
    executor_config: ExecutorConfig = DEFAULT_EXECUTOR


class PlanningEnv(gym.Env):
    """One decision per step; see the module docstring.

    ``reset(options={"episode_seed": s})`` plays highway-env's episode ``s``; without it, the seed is
    drawn from :data:`TRAINING_SEEDS` with the environment's own generator.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, config: EnvConfig | None = None) -> None:
        self.config = config or EnvConfig()
        self.scenario = load_scenario(self.config.scenario)
        self.executor = PolicyExecutor(
            safety_layer=self.config.safety_layer, executor_config=self.config.executor_config
        )
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
        self.loop = ClosedLoop(self.scenario, stack)
        self.steps_per_decision = max(1, round(DECISION_PERIOD_S / self.scenario.dt_s))
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(1 + VEHICLES, FEATURES), dtype=np.float32
        )
        self._speeds: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "episode_seed" in options:
            episode_seed = int(options["episode_seed"])
        else:
            episode_seed = int(self.np_random.integers(*TRAINING_SEEDS))
        self.loop.reset(seed=episode_seed)
        self._speeds = []
        return self._observe(), {"episode_seed": episode_seed}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        decision = ACTIONS[int(action)]
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
        )
        info: dict[str, Any] = {
            "crashed": crashed,
            "overridden": self.executor.overrides > overrides_before,
        }
        if terminated or truncated or crashed:
            info["episode_crashed"] = crashed
            info["episode_mean_speed_mps"] = float(np.mean(self._speeds))
        return self._observe(), reward, bool(terminated or crashed), bool(truncated), info

    def close(self) -> None:
        self.loop.close()

    def _observe(self) -> np.ndarray:
        return encode(
            self.loop.perceive(),
            cruise_mps=self.executor.cruise_mps,
            changing_direction=self.executor.changing_direction,
        )
