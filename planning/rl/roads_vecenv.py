"""Several roads of :class:`~planning.rl.batched_roads.BatchedRoadPlanning` for training and
validation: :class:`RoadVecEnv` behind Stable-Baselines3's ``VecEnv`` API, and
:func:`evaluate_roads_batched`, whole episodes of each road at once."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from planning.rl.batched import whole_episodes
from planning.rl.batched_roads import BatchedRoadPlanning, RoadSpec, RoadStep
from planning.rl.encoding import FEATURES, ROAD_FEATURES, VEHICLES
from planning.rl.executor import DEFAULT_EXECUTOR, ROAD_ACTIONS, ExecutorConfig
from sims.batched.vecenv import TaskVecEnv


class RoadVecEnv(TaskVecEnv):
    """Several roads' :class:`BatchedRoadPlanning`, ``envs_per_road`` environments each, as one
    Stable-Baselines3 ``VecEnv``; infos name each finished episode's road (``scenario``)."""

    def __init__(
        self,
        specs: list[RoadSpec],
        *,
        envs_per_road: int,
        device: str = "cpu",
        seed: int = 0,
        executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
    ) -> None:
        self.specs = specs
        self.tasks = [
            BatchedRoadPlanning.of(
                spec,
                envs_per_road,
                device=device,
                seed=seed + 7919 * k,
                executor_config=executor_config,
            )
            for k, spec in enumerate(specs)
        ]
        self.envs_per_road = envs_per_road
        shape = (1 + VEHICLES, FEATURES + ROAD_FEATURES)
        observation = spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)
        super().__init__(
            envs_per_road * len(specs), observation, spaces.Discrete(len(ROAD_ACTIONS))
        )

    def _reset(self, seed: int | None) -> Tensor:
        return torch.cat(
            [
                task.reset(seed=None if seed is None else seed + 7919 * k).float()
                for k, task in enumerate(self.tasks)
            ]
        )

    def _step(self, actions: Tensor) -> tuple[Any, list[dict[str, Any]]]:
        steps = [
            task.step(chunk)
            for task, chunk in zip(self.tasks, actions.split(self.envs_per_road), strict=True)
        ]
        result = RoadStep(
            **{
                item.name: torch.cat([getattr(s, item.name) for s in steps])
                for item in fields(RoadStep)
            }
        )
        done = (result.terminated | result.truncated).cpu().numpy()
        crashed = result.crashed.cpu().numpy()
        speed = result.episode_mean_speed_mps.cpu().numpy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for index in np.flatnonzero(done):
            infos[index] = {
                "episode_crashed": bool(crashed[index]),
                "episode_mean_speed_mps": float(speed[index]),
                "scenario": self.specs[index // self.envs_per_road].label,
            }
        return result, infos


def evaluate_roads_batched(
    predict: Any,
    specs: list[RoadSpec],
    *,
    episodes: int,
    seed: int,
    device: str | torch.device = "cpu",
    executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
) -> dict[str, dict[str, float]]:
    """Drive ``episodes`` whole episodes of each road at once with ``predict`` (observations to
    actions, both numpy); per road, the mean return (this module's reward), collision rate and
    mean speed.

    :param seed: seeds the scenes; keep it apart from training's.
    """
    figures = {}
    for spec in specs:
        task = BatchedRoadPlanning.of(
            spec, episodes, device=device, seed=seed, executor_config=executor_config
        )
        returns, final = whole_episodes(
            task.step,
            task.reset(seed=seed),
            predict=predict,
            max_steps=task.task.config.max_steps,
            kept=("crashed", "episode_mean_speed_mps"),
        )
        figures[spec.label] = {
            "return": float(returns.mean()),
            "collision_rate": float(final["crashed"].float().mean()),
            "speed_mps": float(final["episode_mean_speed_mps"].mean()),
        }
    return figures
