"""highway-v0's task on the batched engine: observation, reward, episode end, automatic reset.

:class:`BatchedHighway` steps ``B`` environments with one call: ``frames`` simulation steps per policy
step, then highway-env's ``KinematicObservation`` (5 vehicles, relative, sorted, normalised) and
``HighwayEnv._reward``. An environment whose episode ended is reset in the same call, and its last
observation is returned beside the first one of the next episode, as vector environments do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sims.batched import engine, physics
from sims.batched.neighbours import LANE_WIDTH_M
from sims.batched.state import BatchConfig, BatchState, spawn

PERCEPTION_DISTANCE_M = 5.0 * physics.MAX_SPEED_MPS  # AbstractEnv.PERCEPTION_DISTANCE
X_RANGE_M = 5.0 * physics.MAX_SPEED_MPS  # KinematicObservation.normalize_obs
VELOCITY_RANGE_MPS = 2 * physics.MAX_SPEED_MPS


@dataclass(frozen=True)
class StepResult:
    """One policy step of every environment; tensors are ``(B, ...)``."""

    observation: Tensor  # (B, observed_vehicles, 5) after any reset
    reward: Tensor
    terminated: Tensor  # bool: the ego crashed
    truncated: Tensor  # bool: the time limit
    final_observation: Tensor  # the observation before the reset, where an episode ended
    ego_speed_mps: Tensor  # the ego's speed at the end of the step, before any reset
    ego_crashed: Tensor  # bool: the ego crashed (some roads also end an episode otherwise)
    collision_window_misses: int  # see BatchConfig.collision_window


class BatchedHighway:
    """``B`` highway-v0 environments as tensors on one device, stepped together."""

    def __init__(
        self,
        batch: int,
        config: BatchConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
        compiled: bool = False,
    ) -> None:
        """:param compiled: run the step's fixed-shape parts as ``torch.compile`` graphs: much faster
        on large batches, after a compilation of a minute or more (see :func:`engine.kernels`)."""
        self.config = config or BatchConfig()
        self.compiled = compiled
        self.batch = batch
        self.device = torch.device(device)
        self.dtype = dtype
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.state = self._spawn(batch)

    def _spawn(self, batch: int) -> BatchState:
        return spawn(
            self.config, batch, generator=self.generator, device=self.device, dtype=self.dtype
        )

    def reset(self, seed: int | None = None) -> Tensor:
        """Start new episodes everywhere; return the observation ``(B, vehicles, 5)``."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self.state = self._spawn(self.batch)
        return observe(self.state, self.config)

    def simulate(self, action: Tensor) -> int:
        """Run one policy step's simulation steps on the current state (no reward, no reset)."""
        state, config, compiled = self.state, self.config, self.compiled
        misses = torch.zeros((), dtype=torch.long, device=self.device)
        for frame in range(config.frames):
            if frame == 0:
                engine.apply_ego_action(state, config, action.to(self.device))
            steering, acceleration = engine.act(state, config, compiled=compiled)
            misses += engine.step(state, config, steering, acceleration, compiled=compiled)
        state.steps = state.steps + 1
        return int(misses)

    def step(self, action: Tensor) -> StepResult:
        """One policy step of every environment, resetting those whose episode ended."""
        misses = self.simulate(action)
        state, config = self.state, self.config
        observation = observe(state, config)
        reward = highway_reward(state, config)
        terminated = state.crashed[:, 0].clone()
        truncated = state.steps >= config.max_steps
        ego_speed = state.speed_mps[:, 0].clone()
        done = terminated | truncated
        final_observation = observation
        if bool(done.any()):
            self.state = state.select(done, self._spawn(self.batch))
            observation = torch.where(done[:, None, None], observe(self.state, config), observation)
        return StepResult(
            observation=observation,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_observation=final_observation,
            ego_speed_mps=ego_speed,
            ego_crashed=terminated,
            collision_window_misses=misses,
        )


def observe(state: BatchState, config: BatchConfig) -> Tensor:
    """highway-env's default ``KinematicObservation``: presence, x, y, vx, vy of the ego and of the
    nearest vehicles ahead (or less than two lengths behind), relative to the ego, normalised."""
    x, y = state.x_m, state.y_m
    vx = state.speed_mps * torch.cos(state.heading_rad)
    vy = state.speed_mps * torch.sin(state.heading_rad)
    dx, dy = x - x[:, :1], y - y[:, :1]
    visible = (torch.sqrt(dx * dx + dy * dy) < PERCEPTION_DISTANCE_M) & (dx > -2 * physics.LENGTH_M)
    visible[:, 0] = False
    count = min(config.observed_vehicles - 1, x.shape[1] - 1)
    distance = torch.where(visible, dx.abs(), torch.inf)
    nearest_distance, nearest = torch.topk(distance, count, dim=1, largest=False, sorted=True)
    present = torch.isfinite(nearest_distance)
    rows = torch.stack(
        [
            present.to(x.dtype),
            dx.gather(1, nearest),
            dy.gather(1, nearest),
            (vx - vx[:, :1]).gather(1, nearest),
            (vy - vy[:, :1]).gather(1, nearest),
        ],
        dim=-1,
    )
    ego = torch.stack([torch.ones_like(x[:, 0]), x[:, 0], y[:, 0], vx[:, 0], vy[:, 0]], dim=-1)
    table = torch.cat([ego[:, None, :], rows], dim=1)
    y_range = LANE_WIDTH_M * config.lanes
    scale = torch.tensor(
        [1.0, X_RANGE_M, y_range, VELOCITY_RANGE_MPS, VELOCITY_RANGE_MPS],
        device=x.device,
        dtype=x.dtype,
    )
    normalised = (table / scale).clamp(-1, 1)
    normalised[..., 0] = table[..., 0]
    normalised[:, 1:] = torch.where(present[..., None], normalised[:, 1:], 0.0)
    missing = config.observed_vehicles - 1 - count
    if missing > 0:
        normalised = torch.cat([normalised, normalised.new_zeros(x.shape[0], missing, 5)], dim=1)
    return normalised.float()


def highway_reward(state: BatchState, config: BatchConfig) -> Tensor:
    """``HighwayEnv._reward`` on the straight road (:func:`highway_reward_of`)."""
    lane = state.target_lane[:, 0] if config.ego_control == "meta" else state.lane[:, 0]
    offset = state.y_m[:, 0] - state.lane[:, 0].to(state.x_m.dtype) * LANE_WIDTH_M
    return highway_reward_of(
        state.crashed[:, 0],
        lane.to(state.x_m.dtype) / max(config.lanes - 1, 1),
        state.speed_mps[:, 0] * torch.cos(state.heading_rad[:, 0]),
        offset.abs() <= LANE_WIDTH_M / 2,
        collision_reward=config.collision_reward,
        right_lane_reward=config.right_lane_reward,
        high_speed_reward=config.high_speed_reward,
        speed_range_mps=config.reward_speed_range_mps,
    ).float()


def highway_reward_of(
    crashed: Tensor,
    right_lane: Tensor,
    forward_speed_mps: Tensor,
    on_road: Tensor,
    *,
    collision_reward: float,
    right_lane_reward: float,
    high_speed_reward: float,
    speed_range_mps: tuple[float, float],
    normalize: bool = True,
) -> Tensor:
    """``HighwayEnv._reward`` from its terms, for both engines: collision, right lane and speed,
    normalised to [0, 1] by the worst and best sums, times on-road.

    :param crashed: ``(B,)`` bool; ``on_road``: ``(B,)`` bool.
    :param right_lane: ``(B,)`` the lane's index over the road's last index, in [0, 1].
    :param forward_speed_mps: ``(B,)`` the speed along the x axis [m/s].
    """
    high_speed = physics.lmap(forward_speed_mps, speed_range_mps).clamp(0, 1)
    reward = (
        collision_reward * crashed.to(forward_speed_mps.dtype)
        + right_lane_reward * right_lane
        + high_speed_reward * high_speed
    )
    if normalize:
        worst, best = collision_reward, high_speed_reward + right_lane_reward
        reward = physics.lmap(reward, (worst, best))
    return reward * on_road.to(reward.dtype)
