"""highway-env's tasks on road networks, on the batched engine: observation, reward, episode end,
automatic reset.

:class:`BatchedRoads` steps ``B`` environments of one road (merge-v0, roundabout-v0, exit-v0) with
one call: ``frames`` simulation steps per policy step, then the road's ``KinematicObservation``, its
reward and its termination, as highway-env computes them (with the suite's continuous-control reading
of merge-v0's and roundabout-v0's rewards, :mod:`sims.environments`). An environment whose episode
ended is reset in the same call, as :class:`sims.batched.task.BatchedHighway` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from sims.batched import intersection, network_step, physics, roads
from sims.batched.network import NetworkEgoControl, NetworkState
from sims.batched.network_events import Script, check_events, place, scripted_acceleration_mps2
from sims.batched.network_fidelity import config_of, make_environment, reset
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
from sims.batched.racetrack import OccupancyGrid, grid_kernel, racetrack_reward, spawn_racetrack
from sims.batched.roads import LaneView, RoadTensors
from sims.batched.task import StepResult, highway_reward_of
from sims.constants import LANE_WIDTH_M
from sims.events import EventSpec
from sims.strict import ConfigError

EgoLimit = Callable[[NetworkState], Tensor]
"""Before each simulation step: may set the ego's target speed; returns a bound on its acceleration."""

PERCEPTION_DISTANCE_M = 5.0 * physics.MAX_SPEED_MPS  # AbstractEnv.PERCEPTION_DISTANCE
MERGE_END_M = 370.0  # [m] MergeEnv._is_terminated: the ramp has been passed
DEFAULT_SPEEDS_MPS = (20.0, 25.0, 30.0)  # MDPVehicle.DEFAULT_TARGET_SPEEDS


@dataclass(frozen=True)
class Observation:
    """highway-env's ``KinematicObservation`` settings, from the environment's configuration."""

    features: tuple[str, ...]
    vehicles: int
    absolute: bool
    normalize: bool
    clip: bool
    see_behind: bool
    ranges: dict[str, tuple[float, float]] | None
    include_obstacles: bool
    ego_x_lane: tuple[str, str, int] | None  # ExitObservation: the ego's x along the exit lane

    @classmethod
    def of(cls, config: dict[str, Any]) -> Observation:
        observation = config["observation"]
        if observation["type"] not in ("Kinematics", "ExitObservation"):
            raise ValueError(
                f"the batched engine computes Kinematics observations, not {observation['type']!r}"
            )
        ranges = observation.get("features_range")
        return cls(
            features=tuple(observation.get("features", ("presence", "x", "y", "vx", "vy"))),
            vehicles=int(observation.get("vehicles_count", 5)),
            absolute=bool(observation.get("absolute", False)),
            normalize=bool(observation.get("normalize", True)),
            clip=bool(observation.get("clip", True)),
            see_behind=bool(observation.get("see_behind", False)),
            ranges=None
            if ranges is None
            else {k: (float(v[0]), float(v[1])) for k, v in ranges.items()},
            # ExitObservation reads vehicles only, and the ego's x along the last lane before the exit.
            include_obstacles=observation["type"] == "Kinematics"
            and bool(observation.get("include_obstacles", True)),
            ego_x_lane=("1", "2", int(config["lanes_count"]))
            if observation["type"] == "ExitObservation"
            else None,
        )


def observe(
    state: NetworkState, road: RoadTensors, settings: Observation, ego_road_lanes: Tensor
) -> Tensor:
    """``KinematicObservation.observe`` for every scene ``(B, vehicles, features)``: the ego, then
    the nearest vehicles and obstacles by distance along the ego's lane (ahead, or close behind
    when ``see_behind`` is off), within the perception distance.

    :param ego_road_lanes: ``(B,)`` how many lanes the ego's road had when the episode started,
        which sets highway-env's default lateral range.
    """
    x, y, heading, speed = state.x_m, state.y_m, state.heading_rad, state.speed_mps
    cos, sin = torch.cos(heading), torch.sin(heading)
    view = LaneView.of(road, state.lane[:, :1])
    along, _ = roads.local_coordinates(view, x, y)
    ahead = along - along[:, :1]  # lane_distance_to, along the ego's lane
    dx, dy = x - x[:, :1], y - y[:, :1]
    near = (torch.sqrt(dx * dx + dy * dy) < PERCEPTION_DISTANCE_M) & state.present
    if not settings.include_obstacles:
        near = near & ~state.static
    if not settings.see_behind:
        near = near & (ahead > -2 * physics.LENGTH_M)
    near[:, 0] = False
    count = min(settings.vehicles - 1, x.shape[1] - 1)
    key = torch.where(near, ahead.abs(), torch.inf)
    distance, nearest = torch.topk(key, count, dim=1, largest=False, sorted=True)
    present = torch.isfinite(distance)
    columns = {
        "presence": torch.ones_like(x),
        "x": x,
        "y": y,
        "vx": speed * cos,
        "vy": speed * sin,
        "heading": heading,
        "cos_h": cos,
        "sin_h": sin,
    }
    relative = {"x", "y", "vx", "vy"} if not settings.absolute else set()
    table = []
    for name in settings.features:
        if name not in columns:
            raise ValueError(
                f"the batched engine does not observe {name!r}; it observes {sorted(columns)}"
            )
        values = columns[name]
        others = values.gather(1, nearest)
        if name in relative:
            others = others - values[:, :1]
        ego = values[:, :1]
        if name == "x" and settings.ego_x_lane is not None:
            exit_lane = torch.full_like(state.lane[:, :1], road.index(settings.ego_x_lane))
            ego, _ = roads.local_coordinates(LaneView.of(road, exit_lane), x[:, :1], y[:, :1])
        table.append(torch.cat([ego, others], dim=1))
    rows = torch.stack(table, dim=-1)
    if settings.normalize:
        rows = _normalise(rows, settings, ego_road_lanes)
    mask = torch.cat([torch.ones_like(present[:, :1]), present], dim=1)
    rows = torch.where(mask[..., None], rows, 0.0)
    missing = settings.vehicles - 1 - count
    if missing > 0:
        rows = torch.cat([rows, rows.new_zeros(x.shape[0], missing, rows.shape[-1])], dim=1)
    return rows.float()


def _normalise(rows: Tensor, settings: Observation, ego_road_lanes: Tensor) -> Tensor:
    """``KinematicObservation.normalize_obs``: each ranged feature mapped to [-1, 1], clipped."""
    width = LANE_WIDTH_M  # AbstractLane.DEFAULT_WIDTH
    speed = physics.MAX_SPEED_MPS
    ranges: dict[str, Any] = settings.ranges or {
        "x": (-5.0 * speed, 5.0 * speed),
        "y": (-width * ego_road_lanes[:, None], width * ego_road_lanes[:, None]),
        "vx": (-2.0 * speed, 2.0 * speed),
        "vy": (-2.0 * speed, 2.0 * speed),
    }
    columns = list(rows.unbind(-1))
    for index, name in enumerate(settings.features):
        if name in ranges:
            low, high = ranges[name]
            mapped = -1 + (columns[index] - low) * 2 / (high - low)
            columns[index] = mapped.clamp(-1, 1) if settings.clip else mapped
    return torch.stack(columns, dim=-1)


def _speed_index(speed_mps: Tensor, speeds: tuple[float, ...]) -> Tensor:
    """``MDPVehicle.speed_to_index``: the index of the target speed closest to ``speed_mps``."""
    fraction = (speed_mps - speeds[0]) / (speeds[-1] - speeds[0])
    return torch.round(fraction * (len(speeds) - 1)).clamp(0, len(speeds) - 1)


def _lmap(value: Tensor, low: float, high: float) -> Tensor:
    """``utils.lmap`` from [low, high] to [0, 1]."""
    return (value - low) / (high - low)


Reward = Callable[["BatchedRoads", Tensor], Tensor]


def highway_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``HighwayEnv._reward`` on a road network (:func:`~sims.batched.task.highway_reward_of`):
    the right-lane term is the lane's index over the road's last."""
    state, road, config = task.state, task.road, task.env_config
    speed = state.speed_mps[:, 0]
    lane = task.ego_lane()
    last_lane = (road.road_lanes[lane] - 1).clamp(min=1).to(speed.dtype)
    return highway_reward_of(
        state.crashed[:, 0],
        road.lane_id[lane].to(speed.dtype) / last_lane,
        speed * torch.cos(state.heading_rad[:, 0]),
        task.on_road() > 0,
        collision_reward=config["collision_reward"],
        right_lane_reward=config["right_lane_reward"],
        high_speed_reward=config["high_speed_reward"],
        speed_range_mps=tuple(config["reward_speed_range"]),
        normalize=bool(config["normalize_reward"]),
    )


def merge_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``MergeEnv._reward``: collision, right lane, speed and the altruistic penalty for slow
    vehicles on the ramp's last stretch, normalised. No lane-change term: the suite's merge-v0
    (:class:`sims.environments.MergeContinuousEnv`) never counts one."""
    state, road, config = task.state, task.road, task.env_config
    ego_speed = state.speed_mps[:, 0]
    ramp = task.road.index(("b", "c", 2))
    on_ramp = (state.lane == ramp) & state.controlled & state.present
    target = state.target_speed_mps
    slowness = torch.where(on_ramp, (target - state.speed_mps) / physics.not_zero(target), 0.0)
    reward = (
        config["collision_reward"] * state.crashed[:, 0].to(ego_speed.dtype)
        + config["right_lane_reward"] * road.lane_id[state.lane[:, 0]].to(ego_speed.dtype)
        + config["high_speed_reward"] * _lmap(ego_speed, *config["reward_speed_range"])
        + config["merging_speed_reward"] * slowness.sum(1)
    )
    worst = config["collision_reward"] + config["merging_speed_reward"]
    best = config["high_speed_reward"] + config["right_lane_reward"]
    return (reward - worst) / (best - worst)


def roundabout_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``RoundaboutEnv._reward``: collision and speed index, normalised, times on-road (no
    lane-change term, as in the suite's roundabout-v0)."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    if task.config.ego_control == "meta":
        index = _speed_index(state.target_speed_mps[:, 0], task.config.meta_target_speeds_mps)
    else:
        index = _speed_index(speed, DEFAULT_SPEEDS_MPS)
    reward = config["collision_reward"] * state.crashed[:, 0].to(speed.dtype) + config[
        "high_speed_reward"
    ] * index / (len(DEFAULT_SPEEDS_MPS) - 1)
    if config["normalize_reward"]:
        reward = _lmap(reward, config["collision_reward"], config["high_speed_reward"])
    return reward * task.on_road()


def exit_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``ExitEnv._reward``: collision, reaching the exit, speed and lane terms, normalised and clipped."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    lane = task.ego_lane()
    reward = (
        config["collision_reward"] * state.crashed[:, 0].to(speed.dtype)
        + config["goal_reward"] * task.exit_reached().to(speed.dtype)
        + config["high_speed_reward"] * _lmap(speed, *config["reward_speed_range"]).clamp(0, 1)
        + config["right_lane_reward"] * task.road.lane_id[lane].to(speed.dtype)
    )
    if config["normalize_reward"]:
        reward = _lmap(reward, config["collision_reward"], config["goal_reward"]).clamp(0, 1)
    return reward


def intersection_reward(task: BatchedRoads, action: Tensor) -> Tensor:
    """``IntersectionEnv._agent_reward`` for the ego: collision and speed terms, or the arrival
    reward once arrived, times on-road (normalised when the configuration asks)."""
    state, config = task.state, task.env_config
    speed = state.speed_mps[:, 0]
    reward = config["collision_reward"] * state.crashed[:, 0].to(speed.dtype) + config[
        "high_speed_reward"
    ] * _lmap(speed, *config["reward_speed_range"]).clamp(0, 1)
    arrived = intersection.has_arrived(state, task.road)
    reward = torch.where(arrived, float(config["arrived_reward"]), reward) * task.on_road()
    if config["normalize_reward"]:
        reward = _lmap(reward, config["collision_reward"], config["arrived_reward"])
    return reward


REWARDS: dict[str, Reward] = {
    "highway-v0": highway_reward,
    "merge-v0": merge_reward,
    "roundabout-v0": roundabout_reward,
    "exit-v0": exit_reward,
    "intersection-v0": intersection_reward,
    "racetrack-v0": racetrack_reward,
}
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
