"""A gymnasium environment in which one step is one planner decision, executed through the stack.

Each step the policy picks one of :data:`~planning.rl.executor.ACTIONS`; for the next decision period
the configured perceiver, the :class:`~planning.rl.executor.PolicyExecutor` and the configured
controller (the MPC by default) drive highway-env at the simulation rate through ``ContinuousAction``,
exactly as in ``drive rollout``.

Reward of one decision (documented in the README):

* speed, highway-env's progress term: mean speed over the period mapped from [20, 30] m/s to [0, 1];
* collision: ``-COLLISION_PENALTY`` and the episode ends;
* a requested lane change costs ``LANE_CHANGE_COST`` (whether or not it was carried out);
* discomfort: ``COMFORT_WEIGHT`` times the mean squared commanded acceleration over (3 m/s2)^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from control.registry import make_controller
from perception.registry import make_perceiver
from planning.rl.encoding import FEATURES, VEHICLES, encode
from planning.rl.executor import ACTIONS, DEFAULT_EXECUTOR, ExecutorConfig, PolicyExecutor
from sims.env import SimEnv, SimFrame
from sims.scenario import load_scenario

DECISION_PERIOD_S = 1.0  # [s] one policy decision per second, as highway-env's policy frequency
REWARD_SPEED_RANGE_MPS = (20.0, 30.0)  # [m/s] highway-env highway-v0's reward_speed_range
COLLISION_PENALTY = 5.0
LANE_CHANGE_COST = 0.05
COMFORT_WEIGHT = 0.05
COMFORT_ACCELERATION_MPS2 = 3.0  # [m/s2]

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
        self.perceiver = make_perceiver(self.config.perception)
        camera = self.perceiver.camera  # a perceiver that reads frames has them rendered
        self.sim = SimEnv(
            self.scenario,
            render=camera is not None,
            view=camera.view() if camera is not None else None,
        )
        self.controller = make_controller(self.config.controller, dt_s=self.sim.dt_s)
        self.executor = PolicyExecutor(
            safety_layer=self.config.safety_layer, executor_config=self.config.executor_config
        )
        self.steps_per_decision = max(1, round(DECISION_PERIOD_S / self.sim.dt_s))
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, shape=(1 + VEHICLES, FEATURES), dtype=np.float32
        )
        self._frame: SimFrame | None = None
        self._speeds: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if options and "episode_seed" in options:
            episode_seed = int(options["episode_seed"])
        else:
            episode_seed = int(self.np_random.integers(*TRAINING_SEEDS))
        for stage in (self.perceiver, self.executor, self.controller):
            stage.reset()
        self._frame = self.sim.reset(seed=episode_seed)
        self._speeds = []
        return self._observe(), {"episode_seed": episode_seed}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        assert self._frame is not None, "call reset() first"
        decision = ACTIONS[int(action)]
        overrides_before = self.executor.overrides
        self.executor.decide(decision, self.perceiver.perceive(self._frame))
        speeds, accelerations = [], []
        terminated = truncated = False
        for _ in range(self.steps_per_decision):
            scene = self.perceiver.perceive(self._frame)
            plan = self.executor.plan(scene)
            command = self.controller.control(scene.ego, plan)
            step = self.sim.step(
                acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
            )
            self._frame = step.frame
            speeds.append(step.frame.truth.ego.speed_mps)
            accelerations.append(command.acceleration_mps2)
            terminated, truncated = step.terminated, step.truncated
            if terminated or truncated:
                break
        crashed = self._frame.truth.ego.crashed
        self._speeds.extend(speeds)
        low, high = REWARD_SPEED_RANGE_MPS
        reward = float(np.clip((np.mean(speeds) - low) / (high - low), 0.0, 1.0))
        reward -= LANE_CHANGE_COST * abs(decision.lane_change)
        reward -= (
            COMFORT_WEIGHT
            * float(np.mean(np.square(accelerations)))
            / (COMFORT_ACCELERATION_MPS2**2)
        )
        if crashed:
            reward -= COLLISION_PENALTY
        info: dict[str, Any] = {
            "crashed": crashed,
            "overridden": self.executor.overrides > overrides_before,
        }
        if terminated or truncated or crashed:
            info["episode_crashed"] = crashed
            info["episode_mean_speed_mps"] = float(np.mean(self._speeds))
        return self._observe(), reward, bool(terminated or crashed), bool(truncated), info

    def close(self) -> None:
        self.sim.close()

    def _observe(self) -> np.ndarray:
        assert self._frame is not None
        return encode(
            self.perceiver.perceive(self._frame),
            cruise_mps=self.executor.cruise_mps,
            changing_direction=self.executor.changing_direction,
        )
