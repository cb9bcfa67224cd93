"""The planning environment on the batched engine: thousands of decisions per second for training.

:class:`BatchedPlanning` is :class:`~drive.training.planning_env.PlanningEnv` for ``B`` highway-v0 episodes at
once, on :mod:`sims.batched`: the same decisions (:data:`~planning.rl.executor.ACTIONS`), the same
observation (:func:`~planning.rl.encoding.encode`, computed in torch from the ground truth by
:mod:`planning.rl.batched_encoding`) and the same reward (:func:`~planning.rl.reward.decision_reward`). What executes a decision differs, and is
measured in the README:

* deployed, the :class:`~planning.rl.executor.PolicyExecutor` plans a target speed with IDM (or IDM+)
  behind the leaders of the current and target lanes, and the MPC tracks it through
  ``ContinuousAction``;
* here, the ego *is* an IDM vehicle of the engine (``ego_control="follow"``): the same IDM (or IDM+,
  at the same time gap) behind the same leaders, with highway-env's own steering and no tracking
  lag. Neighbours are found by lane index, as highway-env's traffic finds them, instead of the
  executor's lane-membership test.

:class:`PlanningVecEnv` puts it behind Stable-Baselines3's ``VecEnv`` API, with the ``infos`` that
``drive train`` reads (``episode_crashed``, ``episode_mean_speed_mps``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor

from planning.rl.batched_encoding import encode_batch
from planning.rl.batched_safety import RULES, change_is_safe
from planning.rl.encoding import FEATURES, VEHICLES
from planning.rl.executor import (
    ACTIONS,
    DEFAULT_EXECUTOR,
    INITIAL_CRUISE_MPS,
    MAX_CRUISE_MPS,
    MIN_CRUISE_MPS,
    SPEED_STEP_MPS,
    ExecutorConfig,
)
from planning.rl.reward import decision_reward
from sims.batched import engine
from sims.batched.neighbours import LANE_WIDTH_M
from sims.batched.physics import engine_car_following
from sims.batched.state import BatchConfig, BatchState, spawn
from sims.batched.vecenv import TaskVecEnv

ARRIVAL_OFFSET_M = RULES.arrival_offset_m  # [m] a lane change ends this close to the centre


@dataclass(frozen=True)
class PlanningStep:
    """One decision of every environment; tensors are ``(B, ...)``."""

    observation: Tensor  # (B, 1 + VEHICLES, FEATURES) after any reset
    reward: Tensor
    speed_mps: Tensor  # the ego's mean speed over this decision, until a crash
    terminated: Tensor  # bool: the ego crashed
    truncated: Tensor  # bool: the time limit
    final_observation: Tensor  # the observation before the reset, where an episode ended
    episode_mean_speed_mps: Tensor  # the finished episodes' mean speed (meaningful where done)
    episode_overrides: Tensor  # the safety layer's vetoes and aborts so far in each episode


class BatchedPlanning:
    """``B`` planning environments on the batched engine; see the module docstring.

    :param batch: environments at once.
    :param device: torch device of the engine.
    :param seed: seeds the engine's generator (initial scenes, traffic behaviour).
    :param duration_s: episode length [s] (highway-v0: 40).
    :param safety_layer: the executor's safety layer (:mod:`planning.rl.batched_safety`) vetoes and
        aborts lane changes; :attr:`overrides` counts them.
    :param executor_config: the ego's car-following model and time gap (the traffic keeps
        highway-env's), and the safety layer's margins.
    """

    def __init__(
        self,
        batch: int,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        duration_s: float = 40.0,
        safety_layer: bool = False,
        executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
    ) -> None:
        self.config = BatchConfig(
            ego_control="follow",
            duration_s=duration_s,
            ego_time_gap_s=executor_config.time_gap_s,
            ego_car_following=engine_car_following(executor_config.car_following),
        )
        if safety_layer and executor_config.margins.stopping_check:
            raise ValueError(
                "the batched engine's safety layer has no stopping_check; evaluate this policy "
                "with its layer in highway-env (drive rollout), or without the layer here"
            )
        self.safety_layer = safety_layer
        self.executor_config = executor_config
        self.overrides = torch.zeros(batch, dtype=torch.long, device=device)
        self.batch = batch
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        actions = torch.tensor([(a.lane_change, a.speed_change) for a in ACTIONS])
        self.lane_change, self.speed_change = actions.to(self.device).unbind(1)
        self._start(torch.ones(batch, dtype=torch.bool, device=self.device))

    def reset(self, seed: int | None = None) -> Tensor:
        """Start new episodes everywhere; return the observation ``(B, 1 + VEHICLES, FEATURES)``."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self._start(torch.ones(self.batch, dtype=torch.bool, device=self.device))
        return self.observe()

    def step(self, action: Tensor) -> PlanningStep:
        """One decision of every environment (indices into ``ACTIONS``), resetting finished ones."""
        action = action.to(self.device).long().reshape(-1)
        lane_change = self._decide(action)
        speeds, accelerations = self._simulate()
        state, config = self.state, self.config
        crashed = state.crashed[:, 0].clone()
        reward = decision_reward(speeds, lane_change, accelerations, crashed)
        truncated = (state.steps >= config.max_steps) & ~crashed
        done = crashed | truncated
        observation = self.observe()
        final_observation = observation
        mean_speed = self._speed_sum / self._frames.clamp(min=1)
        overrides = self.overrides.clone()
        if bool(done.any()):
            self._start(done)
            observation = torch.where(done[:, None, None], self.observe(), observation)
        return PlanningStep(
            observation=observation,
            reward=reward.float(),
            speed_mps=speeds.float(),
            terminated=crashed,
            truncated=truncated,
            final_observation=final_observation,
            episode_mean_speed_mps=mean_speed.float(),
            episode_overrides=overrides,
        )

    def repeated(self, times: int) -> BatchedPlanning:
        """A new task with ``times`` copies of each environment, in the same state: the engine is
        deterministic, so the copies can try different decisions from the same scene."""
        clone = BatchedPlanning(
            self.batch * times,
            device=self.device,
            duration_s=self.config.duration_s,
            safety_layer=self.safety_layer,
            executor_config=self.executor_config,
        )
        clone.state = BatchState(
            **{
                f.name: getattr(self.state, f.name).repeat_interleave(times, 0)
                for f in fields(BatchState)
            }
        )
        for name in ("cruise_mps", "direction", "waiting", "overrides", "_speed_sum", "_frames"):
            setattr(clone, name, getattr(self, name).repeat_interleave(times, 0))
        return clone

    def _start(self, where: Tensor) -> None:
        """New episodes where ``where`` is true; the others keep theirs."""
        fresh = spawn(
            self.config,
            self.batch,
            generator=self.generator,
            device=self.device,
            dtype=torch.float32,
        )
        initial = torch.full((self.batch,), INITIAL_CRUISE_MPS, device=self.device)
        zero = torch.zeros(self.batch, device=self.device)
        if not hasattr(self, "state"):
            self.state = fresh
            self.cruise_mps, self.direction, self.waiting = initial, zero.long(), zero.long()
            self._speed_sum, self._frames = zero.clone(), zero.clone()
            return
        self.overrides = torch.where(where, 0, self.overrides)
        self.waiting = torch.where(where, 0, self.waiting)
        self.state = self.state.select(where, fresh)
        self.cruise_mps = torch.where(where, initial, self.cruise_mps)
        self.direction = torch.where(where, 0, self.direction)
        self._speed_sum = torch.where(where, 0.0, self._speed_sum)
        self._frames = torch.where(where, 0.0, self._frames)

    def _decide(self, action: Tensor) -> Tensor:
        """``PolicyExecutor.decide``: new cruise speeds and lane changes; the lane changes asked."""
        state, lanes = self.state, self.config.lanes
        lane_change, speed_change = self.lane_change[action], self.speed_change[action]
        self.cruise_mps = (self.cruise_mps + speed_change * SPEED_STEP_MPS).clamp(
            MIN_CRUISE_MPS, MAX_CRUISE_MPS
        )
        lane = state.lane[:, 0]
        wanted = lane + lane_change
        starts = (lane_change != 0) & (self.changing_direction() == 0)
        starts &= (wanted >= 0) & (wanted < lanes)
        if self.safety_layer:
            vetoed = starts & ~change_is_safe(
                state,
                self.config,
                wanted,
                fraction=1.0,
                margins=self.executor_config.margins,
            )
            self.overrides += vetoed.long()
            starts &= ~vetoed
            waits = vetoed & self.executor_config.margins.wait_for_gap
            self.waiting = torch.where(waits, lane_change, 0)
        target = torch.where(starts, wanted, state.target_lane[:, 0])
        self.direction = torch.where(starts, lane_change, self.direction)
        engine.apply_ego_action(
            state, self.config, torch.stack([target.to(self.cruise_mps.dtype), self.cruise_mps], 1)
        )
        return lane_change

    def _simulate(self) -> tuple[Tensor, Tensor]:
        """One decision period; the ego's mean speed and mean squared acceleration until a crash."""
        state, config = self.state, self.config
        speed_sum = torch.zeros(self.batch, device=self.device)
        squared_sum, frames = torch.zeros_like(speed_sum), torch.zeros_like(speed_sum)
        for _ in range(config.frames):
            if self.safety_layer:
                self._abort_unsafe_changes()
                self._start_waiting_changes()
            alive = (~state.crashed[:, 0]).float()
            steering, acceleration = engine.act(state, config)
            engine.step(state, config, steering, acceleration)
            speed_sum += alive * state.speed_mps[:, 0]
            squared_sum += alive * acceleration[:, 0] ** 2
            frames += alive
        state.steps = state.steps + 1
        self._speed_sum += speed_sum
        self._frames += frames
        frames = frames.clamp(min=1)
        return speed_sum / frames, squared_sum / frames

    def _abort_unsafe_changes(self) -> None:
        """``PolicyExecutor._update_change``: back to its lane if the target's gap closed before the
        ego crossed into it."""
        state = self.state
        lane, target = state.lane[:, 0], state.target_lane[:, 0]
        crossing = target != lane
        if not bool(crossing.any()):
            return
        abort = crossing & ~change_is_safe(
            state,
            self.config,
            target,
            fraction=RULES.abort_fraction,
            margins=self.executor_config.margins,
        )
        self.overrides += abort.long()
        state.target_lane[:, 0] = torch.where(abort, lane, target)
        self.direction = torch.where(abort, 0, self.direction)

    def _start_waiting_changes(self) -> None:
        """``PolicyExecutor._update_change``: a vetoed change waiting for its gap starts once the
        safety layer allows it."""
        waiting = (self.waiting != 0) & (self.changing_direction() == 0)
        if not bool(waiting.any()):
            return
        state = self.state
        wanted = state.lane[:, 0] + self.waiting
        starts = waiting & (wanted >= 0) & (wanted < self.config.lanes)
        starts &= change_is_safe(
            state, self.config, wanted, fraction=1.0, margins=self.executor_config.margins
        )
        state.target_lane[:, 0] = torch.where(starts, wanted, state.target_lane[:, 0])
        self.direction = torch.where(starts, self.waiting, self.direction)
        self.waiting = torch.where(starts, 0, self.waiting)

    def changing_direction(self) -> Tensor:
        """-1 while the ego changes lane to the left, +1 to the right, 0 once it has arrived."""
        state = self.state
        target = state.target_lane[:, 0]
        offset = state.y_m[:, 0] - target.to(state.y_m.dtype) * LANE_WIDTH_M
        arrived = (state.lane[:, 0] == target) & (offset.abs() < ARRIVAL_OFFSET_M)
        self.direction = torch.where(arrived, 0, self.direction)
        return self.direction

    def observe(self) -> Tensor:
        """:func:`~planning.rl.encoding.encode` of every environment's ground truth."""
        return encode_batch(
            self.state, self.config, self.cruise_mps, self.changing_direction()
        ).float()


class PlanningVecEnv(TaskVecEnv):
    """:class:`BatchedPlanning` as a Stable-Baselines3 ``VecEnv``."""

    def __init__(
        self,
        num_envs: int,
        *,
        device: str = "cpu",
        seed: int = 0,
        safety_layer: bool = False,
        executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
    ) -> None:
        self.task = BatchedPlanning(
            num_envs,
            device=device,
            seed=seed,
            safety_layer=safety_layer,
            executor_config=executor_config,
        )
        observation = spaces.Box(-np.inf, np.inf, shape=(1 + VEHICLES, FEATURES), dtype=np.float32)
        super().__init__(num_envs, observation, spaces.Discrete(len(ACTIONS)))

    def _reset(self, seed: int | None) -> Tensor:
        return self.task.reset(seed=seed)

    def _step(self, actions: Tensor) -> tuple[Any, list[dict[str, Any]]]:
        result = self.task.step(actions)
        done = (result.terminated | result.truncated).cpu().numpy()
        crashed = result.terminated.cpu().numpy()
        speed = result.episode_mean_speed_mps.cpu().numpy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for index in np.flatnonzero(done):
            infos[index] = {"episode_crashed": bool(crashed[index])}
            infos[index]["episode_mean_speed_mps"] = float(speed[index])
        return result, infos


def evaluate_batched(
    predict: Any,
    *,
    episodes: int,
    seed: int,
    safety_layer: bool = False,
    device: str | torch.device = "cpu",
    executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
) -> dict[str, float]:
    """Drive ``episodes`` whole episodes at once on the engine with ``predict`` (observations to
    actions, both numpy); return the mean return (this module's reward), collision rate and speed.

    :param predict: e.g. ``lambda obs: model.predict(obs, deterministic=True)[0]``.
    :param episodes: episodes, all run in one batch.
    :param seed: seeds the scenes; keep it apart from training's.
    :param safety_layer: with the executor's safety layer; ``overrides`` is its mean count per episode.
    :param executor_config: the ego's car following and the safety layer's margins.
    """
    task = BatchedPlanning(
        episodes,
        device=device,
        seed=seed,
        safety_layer=safety_layer,
        executor_config=executor_config,
    )
    returns, final = whole_episodes(
        task.step,
        task.reset(seed=seed),
        predict=predict,
        max_steps=task.config.max_steps,
        kept=("terminated", "episode_mean_speed_mps", "episode_overrides"),
    )
    return {
        "return": float(returns.mean()),
        "collision_rate": float(final["terminated"].float().mean()),
        "speed_mps": float(final["episode_mean_speed_mps"].mean()),
        "overrides": float(final["episode_overrides"].float().mean()),
    }


def whole_episodes(
    step: Callable[[Tensor], Any],
    observation: Tensor,
    *,
    predict: Any,
    max_steps: int,
    kept: tuple[str, ...],
) -> tuple[Tensor, dict[str, Tensor]]:
    """Drive a batch of episodes once each, to their end, with ``predict`` (observations to
    actions, both numpy): each episode's return, and the fields ``kept`` of the step result at the
    step its episode ended (a batched task's step result: ``reward``, ``terminated``,
    ``truncated``, ``observation`` and those fields).

    :param step: the task's step, from actions to its step result.
    :param observation: the batch's first observation.
    """
    running = torch.ones(observation.shape[0], dtype=torch.bool, device=observation.device)
    returns = torch.zeros(observation.shape[0], device=observation.device)
    final: dict[str, Tensor] = {}
    for _ in range(max_steps):
        result = step(torch.as_tensor(np.asarray(predict(observation.cpu().numpy()))))
        returns += torch.where(running, result.reward, 0.0)
        done = running & (result.terminated | result.truncated)
        for name in kept:
            value = getattr(result, name)
            final[name] = torch.where(done, value, final.get(name, torch.zeros_like(value)))
        running &= ~done
        observation = result.observation
        if not bool(running.any()):
            break
    return returns, final
