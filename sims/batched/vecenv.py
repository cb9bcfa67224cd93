"""The batched engine behind the two vector-environment APIs that training code expects.

- :class:`BatchedVectorEnv`: gymnasium's ``VectorEnv``, with same-step automatic reset (the last
  observation of a finished episode is in ``infos["final_obs"]``).
- :class:`BatchedVecEnv`: Stable-Baselines3's ``VecEnv``, with ``terminal_observation`` and
  ``TimeLimit.truncated`` in each finished environment's info, as SB3's own vector envs report them.

Both see highway-v0's Kinematics observation ``(5, 5)`` and either the meta-actions (``Discrete(5)``)
or continuous actions (``Box(-1, 1, (2,))``), like highway-env's ``highway-v0``.
:class:`RoadsVecEnv` is the SB3 ``VecEnv`` of another road (:class:`~sims.batched.network_task.BatchedRoads`)
under meta-actions, with that road's observation and meta-actions.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector.utils import batch_space
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from sims.batched.network_task import BatchedRoads
from sims.batched.state import BatchConfig
from sims.batched.task import BatchedHighway, StepResult


def _spaces(config: BatchConfig) -> tuple[spaces.Box, spaces.Space]:
    observation = spaces.Box(-np.inf, np.inf, shape=(config.observed_vehicles, 5), dtype=np.float32)
    if config.ego_control == "meta":
        return observation, spaces.Discrete(5)
    return observation, spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


class BatchedVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` highway-v0 environments on the batched engine, as a gymnasium ``VectorEnv``."""

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        config: BatchConfig | None = None,
        *,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.engine = BatchedHighway(num_envs, config, device=device, seed=seed)
        self.num_envs = num_envs
        self.single_observation_space, self.single_action_space = _spaces(self.engine.config)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        first = seed[0] if isinstance(seed, list) else seed
        return self.engine.reset(seed=first).cpu().numpy(), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        result = self.engine.step(torch.as_tensor(np.asarray(actions)))
        done = (result.terminated | result.truncated).cpu().numpy()
        infos: dict[str, Any] = {}
        if done.any():
            infos = {"final_obs": result.final_observation.cpu().numpy(), "_final_obs": done}
        return (
            result.observation.cpu().numpy(),
            result.reward.cpu().numpy(),
            result.terminated.cpu().numpy(),
            result.truncated.cpu().numpy(),
            infos,
        )


class TaskVecEnv(VecEnv):
    """A batched task behind Stable-Baselines3's ``VecEnv`` API; subclasses say how to reset and step.

    ``_step`` returns the task's step result (``observation``, ``reward``, ``terminated``,
    ``truncated``, ``final_observation`` tensors) and the infos of its own; this class adds
    ``terminal_observation`` and ``TimeLimit.truncated`` where an episode ended, as SB3's own vector
    environments do.
    """

    def __init__(
        self, num_envs: int, observation_space: spaces.Space, action_space: spaces.Space
    ) -> None:
        self.render_mode = None  # the engine does not render; highway-env does (sims.env)
        super().__init__(num_envs, observation_space, action_space)
        self._actions: torch.Tensor | None = None

    @abstractmethod
    def _reset(self, seed: int | None) -> torch.Tensor:
        """Start new episodes everywhere (reseeding the task with ``seed`` if given)."""

    @abstractmethod
    def _step(self, actions: torch.Tensor) -> tuple[Any, list[dict[str, Any]]]:
        """Step every environment; return the task's result and one info dict per environment."""

    def reset(self) -> np.ndarray:
        seeds = [seed for seed in self._seeds if seed is not None]
        observation = self._reset(seeds[0] if seeds else None)
        self._reset_seeds()
        return observation.cpu().numpy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = torch.as_tensor(np.asarray(actions))

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called before step_async()")
        result, infos = self._step(self._actions)
        self._actions = None
        done = (result.terminated | result.truncated).cpu().numpy()
        time_limit = (result.truncated & ~result.terminated).cpu().numpy()
        final = result.final_observation.cpu().numpy()
        for index in np.flatnonzero(done):
            infos[index]["terminal_observation"] = final[index]
            infos[index]["TimeLimit.truncated"] = bool(time_limit[index])
        return result.observation.cpu().numpy(), result.reward.cpu().numpy(), done, infos

    def close(self) -> None:
        """Nothing to release: the engine is tensors."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def _get_indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)


class BatchedVecEnv(TaskVecEnv):
    """``num_envs`` highway-v0 environments on the batched engine, as a Stable-Baselines3 ``VecEnv``."""

    def __init__(
        self,
        num_envs: int,
        config: BatchConfig | None = None,
        *,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.engine = BatchedHighway(num_envs, config, device=device, seed=seed)
        super().__init__(num_envs, *_spaces(self.engine.config))

    def _reset(self, seed: int | None) -> torch.Tensor:
        return self.engine.reset(seed=seed)

    def _step(self, actions: torch.Tensor) -> tuple[StepResult, list[dict[str, Any]]]:
        return self.engine.step(actions), [{} for _ in range(self.num_envs)]


class RoadsVecEnv(TaskVecEnv):
    """``num_envs`` environments of one road network under meta-actions, as an SB3 ``VecEnv``.

    :param env_id: merge-v0, exit-v0, roundabout-v0 or intersection-v0.
    :param env_config: highway-env configuration overrides (observation, meta-actions, frequencies).
    :param duration_s: episode length [s] (default: the environment's).
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        *,
        env_config: dict[str, Any] | None = None,
        duration_s: float | None = None,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        self.engine = BatchedRoads(
            env_id,
            num_envs,
            ego_control="meta",
            device=device,
            seed=seed,
            duration_s=duration_s,
            env_config=env_config,
        )
        shape = self.engine.observation_shape
        as_image = getattr(self.engine.observation, "as_image", False)  # an occupancy grid's
        observation = (
            spaces.Box(0, 255, shape=shape, dtype=np.uint8)
            if as_image
            else spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)
        )
        super().__init__(
            num_envs, observation, spaces.Discrete(len(self.engine.config.meta_actions))
        )

    def _reset(self, seed: int | None) -> torch.Tensor:
        return self.engine.reset(seed=seed)

    def _step(self, actions: torch.Tensor) -> tuple[StepResult, list[dict[str, Any]]]:
        return self.engine.step(actions), [{} for _ in range(self.num_envs)]
