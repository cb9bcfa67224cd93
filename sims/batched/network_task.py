"""highway-env's tasks on road networks, on the batched engine: observation, reward, episode end,
automatic reset.

:class:`BatchedRoads` steps ``B`` environments of one road (highway-v0, merge-v0, exit-v0,
roundabout-v0, intersection-v0, racetrack-v0) with one call: ``frames`` simulation steps per policy
step, then the road's observation (:mod:`sims.batched.network_observation`; racetrack-v0's grid,
:mod:`sims.batched.racetrack`), its reward (:mod:`sims.batched.network_rewards`) and its
termination, as highway-env computes them. An environment whose episode ended is reset in the same
call, as :class:`sims.batched.task.BatchedHighway` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from sims.batched import intersection, network_step, physics, roads
from sims.batched.network import NetworkEgoControl, NetworkState
from sims.batched.network_events import Script, check_events, place, scripted_acceleration_mps2
from sims.batched.network_fidelity import config_of, make_environment, reset
from sims.batched.network_observation import Observation, observe
from sims.batched.network_rewards import REWARDS
from sims.batched.network_spawn import (
    ROUNDABOUT_DESTINATIONS,
    Draw,
    Spawner,
    spawn_exit,
    spawn_highway,
    spawn_merge,
    spawn_roundabout,
)
from sims.batched.physics import TRAFFIC_FOLLOWING, EgoFollowing
from sims.batched.racetrack import OccupancyGrid, grid_kernel, spawn_racetrack
from sims.batched.roads import LaneView
from sims.batched.task import StepResult
from sims.events import EventSpec
from sims.strict import ConfigError

EgoLimit = Callable[[NetworkState], Tensor]
"""Before each simulation step: may set the ego's target speed; returns a bound on its acceleration."""

MERGE_END_M = 370.0  # [m] MergeEnv._is_terminated: the ramp has been passed


DRAWS: dict[str, tuple[Draw, tuple[str, ...]]] = {
    "highway-v0": (spawn_highway, ()),
    "merge-v0": (spawn_merge, ()),
    "roundabout-v0": (spawn_roundabout, ROUNDABOUT_DESTINATIONS),
    "exit-v0": (spawn_exit, ("3",)),
    "intersection-v0": (intersection.spawn_intersection, intersection.DESTINATIONS),
    "racetrack-v0": (spawn_racetrack, ()),
}
"""Each road's draw of initial scenes, and the destinations its routes are planned to."""


HONOURED_CONFIG = frozenset(
    {
        "action", "action_reward", "arrived_reward", "collision_reward", "controlled_vehicles",
        "destination", "duration", "ego_spacing", "goal_reward", "high_speed_reward",
        "initial_lane_id", "initial_vehicle_count", "lane_centering_cost", "lane_centering_reward",
        "lanes_count", "merging_speed_reward", "normalize_reward", "observation", "other_vehicles",
        "other_vehicles_type", "policy_frequency", "reward_speed_range", "right_lane_reward",
        "simulation_frequency", "spawn_probability", "speed_limit", "terminate_off_road",
        "vehicles_count", "vehicles_density",
        # rendering only: the engine draws nothing, so these change nothing it computes
        "centering_position", "manual_control", "offscreen_rendering", "real_time_rendering",
        "render_agent", "scaling", "screen_height", "screen_width", "show_trajectories",
    }
)  # fmt: skip
"""The highway-env configuration keys the engine reads (or that change nothing it computes)."""


def check_honoured(env_config: dict[str, Any], *, source: str) -> None:
    """Refuse a highway-env configuration override the engine would not honour, by name.

    :param source: where the override comes from, for the message (a scenario file).
    :raises ConfigError: naming the key, ``source`` and the keys the engine honours.
    """
    for key in env_config:
        if key not in HONOURED_CONFIG:
            raise ConfigError(
                f"{source}: env_config key {key!r} is not honoured by the batched engine; "
                f"it honours: {', '.join(sorted(HONOURED_CONFIG))}"
            )
    if env_config.get("controlled_vehicles", 1) != 1:
        raise ConfigError(
            f"{source}: env_config controlled_vehicles = {env_config['controlled_vehicles']!r}: "
            "the batched engine drives one controlled vehicle"
        )


def _action_axes(env_config: dict[str, Any], ego_control: NetworkEgoControl) -> tuple[bool, bool]:
    """Which of (acceleration, steering) a continuous ego's action holds: ``ContinuousAction``'s
    ``longitudinal`` and ``lateral``; both for the other ego controls."""
    action = env_config["action"]
    if ego_control != "continuous":
        return True, True
    return bool(action.get("longitudinal", True)), bool(action.get("lateral", True))


class BatchedRoads:
    """``B`` environments of one highway-env road as tensors on one device, stepped together."""

    def __init__(
        self,
        env_id: str,
        batch: int,
        *,
        ego_control: NetworkEgoControl = "continuous",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
        duration_s: float | None = None,
        compiled: bool = False,
        env_config: dict[str, Any] | None = None,
        ego_following: EgoFollowing = TRAFFIC_FOLLOWING,
        events: tuple[EventSpec, ...] = (),
    ) -> None:
        """:param compiled: run the step's fixed-shape parts as ``torch.compile`` graphs: faster on
        large batches, after a compilation of a minute or so (:func:`network_step.kernels`).
        :param env_config: highway-env configuration overrides of the road (its observation, its
            meta-actions, its frequencies), read as highway-env would read them.
        :param ego_following: the ego's time gap and car following under ``ego_control="follow"``.
        :param events: a scenario file's scripted events (:mod:`sims.batched.network_events`)."""
        if env_id not in DRAWS:
            raise ValueError(
                f"the batched engine has no task for {env_id!r}; it has {sorted(DRAWS)}"
            )
        self.script: Script | None = check_events(events, env_id, source=env_id)
        env = make_environment(env_id, ego_control, env_config)
        reset(env, 0)
        self.env_id = env_id
        self.compiled = compiled
        self.env_config = env.unwrapped.config
        config = config_of(env, ego_control)
        if ego_following != TRAFFIC_FOLLOWING and ego_control != "follow":
            raise ValueError(f"ego_following applies to ego_control 'follow', not {ego_control!r}")
        config = replace(config, ego_following=ego_following)
        if duration_s is not None:
            config = replace(config, duration_s=duration_s)
        self.config = config
        self.device, self.dtype, self.batch = torch.device(device), dtype, batch
        self.road = roads.from_network(env.unwrapped.road.network).to(self.device, dtype)
        draw, destinations = DRAWS[env_id]
        self._draw = draw
        self.spawner = Spawner(
            env,
            self.road,
            ego_control,
            destinations=destinations,
            meta_target_speeds_mps=config.meta_target_speeds_mps,
        )
        self.spawner.network_config = config
        self.spawner.compiled = compiled
        self.observation: Observation | OccupancyGrid = (
            OccupancyGrid.of(self.env_config)
            if self.env_config["observation"]["type"] == "OccupancyGrid"
            else Observation.of(self.env_config)
        )
        self.action_axes = _action_axes(self.env_config, ego_control)  # (acceleration, steering)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        env.close()
        self.state = self._spawn()
        self.ego_road_lanes = self.road.road_lanes[self.state.lane[:, 0]]
        self._drawn: NetworkState | None = None  # fresh scenes drawn ahead, for restarts
        self._taken = 0  # how many of them restarts have taken

    def _spawn(self, count: int | None = None) -> NetworkState:
        """``count`` new scenes (by default the whole batch)."""
        like = torch.zeros((), device=self.device, dtype=self.dtype)
        state = self._draw(self.spawner, count or self.batch, self.generator, like)
        return state if self.script is None else place(state, self.road, self.script)

    def reset(self, seed: int | None = None) -> Tensor:
        """Start new episodes everywhere; return the observation ``(B, vehicles, features)``."""
        if seed is not None:
            self.generator.manual_seed(seed)
        self._drawn, self._taken = None, 0
        self.state = self._spawn()
        self.ego_road_lanes = self.road.road_lanes[self.state.lane[:, 0]]
        return self.observe()

    def observe(self) -> Tensor:
        """The road's observation of every scene: ``(B, vehicles, features)`` kinematics, or
        ``(B, features, cells, cells)`` for an occupancy grid (racetrack-v0)."""
        if isinstance(self.observation, OccupancyGrid):
            return grid_kernel(self.compiled)(self.state, self.road, self.observation)
        return observe(self.state, self.road, self.observation, self.ego_road_lanes)

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """The shape of one scene's observation."""
        if isinstance(self.observation, OccupancyGrid):
            return self.observation.shape
        return self.observation.vehicles, len(self.observation.features)

    def _full_action(self, action: Tensor) -> Tensor:
        """A continuous ego's action as (acceleration, steering): ``ContinuousAction`` with one axis
        (racetrack-v0 steers only) takes ``(B, 1)``, and the other axis is 0 (0 m/s2 or 0 rad).

        :raises ValueError: for a one-axis ego given another number of columns.
        """
        action = action.to(self.device)
        longitudinal, lateral = self.action_axes
        if longitudinal and lateral:
            return action
        column = action.reshape(self.batch, -1)
        if column.shape[1] != 1:
            axis = "acceleration" if longitudinal else "steering"
            raise ValueError(
                f"{self.env_id}'s ego takes its {axis} alone: ({self.batch}, 1) actions, not "
                f"{tuple(action.shape)}"
            )
        zero = torch.zeros_like(column)
        return torch.cat([column, zero] if longitudinal else [zero, column], dim=1)

    def simulate(self, action: Tensor, *, ego_limit: EgoLimit | None = None) -> Tensor:
        """Run one policy step's simulation steps on the current state (no reward, no reset).

        :param ego_limit: called before each simulation step's decisions with the state; it may set
            the ego's target speed, and returns a bound on its acceleration [m/s2] (``inf``: none).
        :return: ``(frames, B)`` the ego's commanded acceleration at each simulation step [m/s2].
        """
        state, road, config = self.state, self.road, self.config
        commanded = []
        for frame in range(config.frames):
            if frame == 0:
                network_step.apply_ego_action(state, road, config, self._full_action(action))
            bound = None if ego_limit is None else ego_limit(state)
            steering, acceleration = network_step.act(state, road, config, compiled=self.compiled)
            if self.script is not None:
                frames_done = (state.steps * config.frames + frame).to(state.x_m.dtype)
                time_s = frames_done * config.dt_s
                acceleration = scripted_acceleration_mps2(
                    acceleration, state, self.script, time_s, config.dt_s
                )
            if bound is not None:
                limited = torch.minimum(acceleration[:, 0], bound.to(acceleration.dtype))
                acceleration = acceleration.clone()
                acceleration[:, 0] = limited.clamp(-physics.ACC_MAX_MPS2, physics.ACC_MAX_MPS2)
            network_step.step(state, road, config, steering, acceleration, compiled=self.compiled)
            commanded.append(acceleration[:, 0])
        state.steps = state.steps + 1
        return torch.stack(commanded)

    def step(self, action: Tensor) -> StepResult:
        """One policy step of every environment, resetting those whose episode ended."""
        self.simulate(action)
        observation = self.observe()
        reward = REWARDS[self.env_id](self, action.to(self.device)).float()
        ego_speed = self.state.speed_mps[:, 0].clone()
        crashed = self.state.crashed[:, 0].clone()
        terminated, truncated = self.end_step()
        done = terminated | truncated
        final_observation = observation
        if bool(done.any()):
            self.restart(done)
            restarted = self.observe()
            ended = done.view(-1, *([1] * (observation.dim() - 1)))
            observation = torch.where(ended, restarted, observation)
        return StepResult(
            observation=observation,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            final_observation=final_observation,
            ego_speed_mps=ego_speed,
            ego_crashed=crashed,
            collision_window_misses=0,
        )

    def end_step(self) -> tuple[Tensor, Tensor]:
        """The end of a policy step, after its observation and reward: which episodes ended
        (``terminated``: a crash or the road's own end; ``truncated``: the time limit), and
        intersection-v0's traffic leaving and arriving, as ``IntersectionEnv.step`` orders it."""
        state = self.state
        terminated = state.crashed[:, 0].clone()
        if self.env_id == "merge-v0":
            terminated = terminated | (state.x_m[:, 0] > MERGE_END_M)
        if self.env_id == "racetrack-v0" and self.env_config["terminate_off_road"]:
            terminated = terminated | (self.on_road() == 0)
        if self.env_id == "intersection-v0":
            terminated = terminated | intersection.has_arrived(state, self.road)
            state = self.state = intersection.clear_vehicles(state, self.road)
            intersection.spawn_vehicle(
                state,
                self.spawner,
                self.generator,
                probability=float(self.env_config["spawn_probability"]),
            )
        return terminated, state.steps >= self.config.max_steps

    def restart(self, where: Tensor) -> None:
        """New scenes for the environments ``where`` is true, placed where they were."""
        slot = (torch.cumsum(where.long(), 0) - 1).clamp(min=0)
        fresh = self._fresh(int(where.sum())).scenes(slot)
        self.state = self.state.select(where, fresh)
        lanes = self.road.road_lanes[fresh.lane[:, 0]]
        self.ego_road_lanes = torch.where(where, lanes, self.ego_road_lanes)

    def _fresh(self, count: int) -> NetworkState:
        """``count`` new scenes, from those drawn ahead a batch at a time.

        A restart concerns a few scenes, and a draw costs nearly as much for a few as for a batch:
        intersection-v0's initial scene runs its traffic for three seconds (45 simulation steps)
        before the ego is placed. Drawn a batch ahead, the restarts of many policy steps share
        those steps.
        """
        if self._drawn is None or self._drawn.x_m.shape[0] - self._taken < count:
            more = self._spawn(self.batch)
            if self._drawn is not None:  # the scenes left, then the new batch
                more = self._drawn.scenes(slice(self._taken, None)).then(more)
            self._drawn, self._taken = more, 0
        taken = self._drawn.scenes(slice(self._taken, self._taken + count))  # views, no copy
        self._taken += count
        return taken

    def ego_lane(self) -> Tensor:
        """The ego's lane as highway-env's rewards read it: the target lane of a controlled ego."""
        if self.config.ego_control == "meta":
            return self.state.target_lane[:, 0]
        return self.state.lane[:, 0]

    def exit_reached(self) -> Tensor:
        """``ExitEnv._is_success``: the ego is in (or bound for) the exit lane or the exit ramp."""
        lanes = int(self.env_config["lanes_count"])
        lane = self.ego_lane()
        return (lane == self.road.index(("1", "2", lanes))) | (
            lane == self.road.index(("2", "exit", 0))
        )

    def on_road(self) -> Tensor:
        """``RoadObject.on_road``: the ego on its current lane (no margin)."""
        state = self.state
        view = LaneView.of(self.road, state.lane[:, 0])
        along, across = roads.local_coordinates(view, state.x_m[:, 0], state.y_m[:, 0])
        return roads.on_lane(view, along, across, 0.0).to(state.x_m.dtype)
