"""The road interface's planning environment on the batched engine: every road of the suite that the
engine drives, thousands of decisions per second.

:class:`BatchedRoadPlanning` is :class:`~drive.training.planning_env.PlanningEnv` with the ``road``
interface (:mod:`planning.rl.interface`) for ``B`` episodes of one highway-env road at once, on
:class:`~sims.batched.network_task.BatchedRoads`. It shares with the highway-env path:

* the decisions, :data:`~planning.rl.executor.ROAD_ACTIONS`: lane changes where the road has
  lanes beside, the cruise speed, and yielding to crossing traffic or going;
* the observation, :func:`~planning.rl.encoding.encode_observed`, read from the engine's state on
  the ego lane's centreline as the ground truth samples it (:mod:`sims.batched.centreline`), with
  the road's columns: the junction test (:func:`~planning.conflict.first_conflict_gaps_m`), the
  curvature ahead (:func:`~planning.conflict.max_curvatures`) and the speed limit;
* the executor's speed rule (:func:`~planning.rules.desired_speed_mps`) and its yielding (IDM
  towards the first conflict as towards a standing car), both recomputed at every simulation step;
* the reward, :func:`~planning.rl.reward.decision_reward` with the road's speed range and
  collision penalty, and :func:`~planning.rl.reward.arrival_reward` at the route's end, scaled
  by :func:`~planning.rl.reward.road_reward_scale`.

What executes a decision differs, as on the straight road (:mod:`planning.rl.batched`): the ego is
an IDM vehicle of the engine (``ego_control="follow"``) with highway-env's steering and no tracking
lag, following its leader with the executor's model and time gap
(:class:`~sims.batched.physics.EgoFollowing`; IDM's gaps centre to centre, as the traffic's, and
its closing speed projected on the ego's heading, as highway-env's IDM does, where the executor
takes each vehicle's speed along the lane where it is: on the roundabout's ring the engine's ego
follows a car well ahead as if it were slower), and the safety layer is not available here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from planning.conflict import (
    Movers,
    crossing_traffic,
    first_conflict_gaps_m,
    interpolate,
    max_curvatures,
    yield_gaps_m,
)
from planning.rl.encoding import (
    CURVATURE_SCALE_M,
    DISTANCE_SCALE_M,
    ROAD_PREVIEW_M,
    SPEED_SCALE_MPS,
    Observed,
    encode_observed,
)
from planning.rl.executor import (
    DEFAULT_EXECUTOR,
    INITIAL_CRUISE_MPS,
    MAX_CRUISE_MPS,
    MIN_CRUISE_MPS,
    ROAD_ACTIONS,
    SPEED_STEP_MPS,
    ExecutorConfig,
)
from planning.rl.reward import (
    DECISION_PERIOD_S,
    arrival_reward,
    decision_reward,
    road_collision_penalty,
    road_reward_scale,
    road_speed_range_mps,
)
from planning.rules import desired_speed_mps
from sims.batched import roads
from sims.batched.centreline import Centrelines, centrelines, followed_lane, lane_end_m
from sims.batched.network import NetworkState
from sims.batched.network_task import BatchedRoads
from sims.batched.physics import EgoFollowing
from sims.batched.roads import LaneView
from sims.events import EventSpec
from sims.frenet import project
from sims.idm import CAR_FOLLOWING

# The executor's speed rule and junction test run at every third simulation step (5 Hz; the stack
# runs them at 15 Hz) and hold in between: they are most of a step's cost.
EXECUTOR_EVERY_STEPS = 3


@dataclass(frozen=True)
class RoadStep:
    """One decision of every environment; tensors are ``(B, ...)``."""

    observation: Tensor  # (B, 1 + VEHICLES, FEATURES + ROAD_FEATURES) after any reset
    reward: Tensor
    terminated: Tensor  # bool: a crash, or the road's own end (arrival)
    truncated: Tensor  # bool: the time limit
    final_observation: Tensor  # the observation before the reset, where an episode ended
    crashed: Tensor  # bool: the ego crashed during this decision
    episode_mean_speed_mps: Tensor  # the finished episodes' mean speed (meaningful where done)


@dataclass(frozen=True)
class RoadSpec:
    """One road to train on: its highway-env id and what a scenario file asks of it."""

    env_id: str
    name: str = ""  # how infos and validation name it; the env id by default
    destination: str | None = None
    env_config: dict[str, Any] | None = None
    duration_s: float | None = None
    events: tuple[EventSpec, ...] = ()  # a scenario's scripted events (highway-v0's only)

    @property
    def label(self) -> str:
        return self.name or self.env_id


class BatchedRoadPlanning:
    """``B`` road-interface planning environments of one road; see the module docstring.

    :param env_id: the highway-env road (``highway-v0``, ``merge-v0``, ``roundabout-v0``,
        ``exit-v0``, ``intersection-v0``).
    :param batch: environments at once.
    :param env_config: highway-env configuration overrides (a scenario's ``env_config``).
    :param destination: the node the ego's route leads to (a scenario's ``destination``); None:
        the road's own choice for the ego, or none.
    :param duration_s: episode length [s]; None: the road's.
    :param events: a scenario's scripted events (:mod:`sims.batched.network_events`).
    :param seed: seeds the engine's generator (initial scenes, traffic behaviour).
    :param executor_config: the executor's speed in curves and yielding rules.
    """

    def __init__(
        self,
        env_id: str,
        batch: int,
        *,
        env_config: dict[str, Any] | None = None,
        destination: str | None = None,
        duration_s: float | None = None,
        events: tuple[EventSpec, ...] = (),
        device: str | torch.device = "cpu",
        seed: int = 0,
        executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
    ) -> None:
        self.task = BatchedRoads(
            env_id,
            batch,
            ego_control="follow",
            device=device,
            dtype=torch.float64,
            seed=seed,
            duration_s=duration_s,
            env_config=env_config,
            ego_following=EgoFollowing(executor_config.time_gap_s, executor_config.car_following),
            events=events,
        )
        period_s = self.task.config.frames * self.task.config.dt_s
        if not math.isclose(period_s, DECISION_PERIOD_S):
            raise ValueError(
                f"{env_id}: a decision lasts {DECISION_PERIOD_S} s, the road's policy period is "
                f"{period_s} s (policy_frequency must be 1)"
            )
        self.env_id, self.batch, self.device = env_id, batch, self.task.device
        self.rules = executor_config.rules()
        self.destination = self._destination_index(destination)
        table = torch.tensor(
            [(a.lane_change, a.speed_change, a.yields) for a in ROAD_ACTIONS], device=self.device
        )
        self.lane_change, self.speed_change, self.yields_of = table.unbind(1)
        zero = torch.zeros(batch, dtype=torch.float64, device=self.device)
        self.cruise_mps, self.direction = zero + INITIAL_CRUISE_MPS, zero.long()
        self.yields = torch.ones(batch, dtype=torch.bool, device=self.device)
        self.speed_range = torch.stack([zero, zero], 1)
        self._speed_sum, self._frames = zero.clone(), zero.clone()
        self._started(torch.ones(batch, dtype=torch.bool, device=self.device))

    @classmethod
    def of(
        cls,
        spec: RoadSpec,
        batch: int,
        *,
        device: str | torch.device = "cpu",
        seed: int = 0,
        executor_config: ExecutorConfig = DEFAULT_EXECUTOR,
    ) -> BatchedRoadPlanning:
        """``batch`` environments of the road ``spec`` names, as its scenario asks."""
        return cls(
            spec.env_id,
            batch,
            env_config=spec.env_config,
            destination=spec.destination,
            duration_s=spec.duration_s,
            events=spec.events,
            device=device,
            seed=seed,
            executor_config=executor_config,
        )

    # -- episodes ------------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> Tensor:
        """Start new episodes everywhere; return the observation."""
        self.task.reset(seed=seed)
        self._started(torch.ones(self.batch, dtype=torch.bool, device=self.device))
        return self.observe()

    def step(self, action: Tensor) -> RoadStep:
        """One decision of every environment (indices into ``ROAD_ACTIONS``), resetting finished
        ones."""
        action = action.to(self.device).long().reshape(-1)
        lane_change, follow = self._decide(action)
        speeds, squared = self._simulate(follow)
        state = self.task.state
        crashed = state.crashed[:, 0].clone()
        reward = decision_reward(
            speeds,
            lane_change.to(speeds.dtype),
            squared,
            crashed,
            speed_range_mps=(self.speed_range[:, 0], self.speed_range[:, 1]),
            collision_penalty=road_collision_penalty(self.task.config.duration_s),
        )
        final_observation = self.observe()
        arrived_on_road = self.task.on_road() > 0
        terminated, truncated = self.task.end_step()
        remaining_s = self.task.config.duration_s - state.steps * DECISION_PERIOD_S
        arrived = terminated & ~crashed & arrived_on_road
        reward = reward + torch.where(arrived, arrival_reward(remaining_s), 0.0)
        reward = reward * road_reward_scale(self.task.config.duration_s)
        mean_speed = self._speed_sum / self._frames.clamp(min=1)
        done = terminated | truncated
        observation = final_observation
        if bool(done.any()):
            self.task.restart(done)
            self._started(done)
            # Only the restarted scenes are observed again, not the whole batch a second time.
            (index,) = torch.nonzero(done, as_tuple=True)
            observation = final_observation.clone()
            observation[index] = self._observe(
                self.task.state.scenes(index),
                self.cruise_mps[index],
                self.changing_direction()[index],
            )
        return RoadStep(
            observation=observation.float(),
            reward=reward.float(),
            terminated=terminated,
            truncated=truncated & ~terminated,
            final_observation=final_observation.float(),
            crashed=crashed,
            episode_mean_speed_mps=mean_speed.float(),
        )

    def _started(self, where: Tensor) -> None:
        """Fresh executor state, the ego's route and the reward's speed range where episodes began."""
        state = self.task.state
        if self.destination is not None:
            routes = self.task.spawner.routes.to(self.device)[state.lane[:, 0], self.destination]
            state.route_road[:, 0] = torch.where(
                where[:, None], routes[..., 0], state.route_road[:, 0]
            )
            state.route_lane[:, 0] = torch.where(
                where[:, None], routes[..., 1], state.route_lane[:, 0]
            )
            state.route_head[:, 0] = torch.where(where, 0, state.route_head[:, 0])
        self.cruise_mps = torch.where(where, INITIAL_CRUISE_MPS, self.cruise_mps)
        self.direction = torch.where(where, 0, self.direction)
        self.yields = torch.where(where, True, self.yields)
        self._speed_sum = torch.where(where, 0.0, self._speed_sum)
        self._frames = torch.where(where, 0.0, self._frames)
        limit = self.task.road.speed_limit_mps[state.lane[:, 0]]
        low, high = road_speed_range_mps(self.task.env_config.get("reward_speed_range"), limit)
        fresh = torch.stack([limit * 0 + low, limit * 0 + high], 1)
        self.speed_range = torch.where(where[:, None], fresh, self.speed_range)

    def _destination_index(self, destination: str | None) -> int | None:
        """The spawner's index of ``destination``; a ValueError names the reachable ones."""
        if destination is None:
            return None
        destinations = self.task.spawner.destinations
        if destination not in destinations:
            raise ValueError(
                f"{self.env_id}: the engine routes to {list(destinations)}, not {destination!r}"
            )
        return destinations.index(destination)

    # -- the executor ---------------------------------------------------------------------------

    def _decide(self, action: Tensor) -> tuple[Tensor, Tensor]:
        """``PolicyExecutor.decide``: the new cruise speed, yielding and lane change; returns the
        lane changes asked for and the follow-mode action ``(B, 2)`` (lane id, cruise speed)."""
        state, road = self.task.state, self.task.road
        lane_change = self.lane_change[action]
        self.yields = self.yields_of[action].bool()
        self.cruise_mps = (self.cruise_mps + self.speed_change[action] * SPEED_STEP_MPS).clamp(
            MIN_CRUISE_MPS, MAX_CRUISE_MPS
        )
        lane, target = state.lane[:, 0], state.target_lane[:, 0]
        wanted = road.lane_id[lane] + lane_change
        starts = (lane_change != 0) & (self.changing_direction() == 0)
        starts &= (wanted >= 0) & (wanted < road.road_lanes[lane])
        lane_id = torch.where(starts, wanted, road.lane_id[target])
        self.direction = torch.where(starts, lane_change, self.direction)
        return lane_change, torch.stack([lane_id.to(self.cruise_mps.dtype), self.cruise_mps], 1)

    def _simulate(self, follow: Tensor) -> tuple[Tensor, Tensor]:
        """One decision period; the ego's mean speed and mean squared acceleration until a crash."""
        alive, speeds = [], []

        held: dict[str, Tensor] = {}

        def ego_limit(state: NetworkState) -> Tensor:
            alive.append(~state.crashed[:, 0])
            speeds.append(state.speed_mps[:, 0])  # the last step's outcome
            if (len(alive) - 1) % EXECUTOR_EVERY_STEPS == 0:
                lane = self._followed_lane(state)
                line = self._centreline(state, lane)
                preview_m = (self.rules.curve_preview_s * state.speed_mps[:, 0]).clamp(min=20.0)
                curvature = max_curvatures(line.heading_rad, line.station_m, 0.0, preview_m)
                limit = self.task.road.speed_limit_mps[lane]
                held["desired"] = torch.minimum(
                    self.cruise_mps, desired_speed_mps(curvature, limit, self.rules)
                )
                held["gap"] = self._conflict_gap_m(line, state, rows=self.yields)
                held["lane_end"] = lane_end_m(
                    self.task.road, lane, state.x_m[:, 0], state.y_m[:, 0]
                )
            state.target_speed_mps[:, 0] = held["desired"]
            # The executor plans speeds of at least 0: a yielding ego stops, it never reverses.
            stop = -state.speed_mps[:, 0].clamp(min=0) / self.task.config.dt_s
            yielding = self._yield_acceleration(held["gap"], held["lane_end"], held["desired"])
            return torch.maximum(yielding, stop)

        commanded = self.task.simulate(follow, ego_limit=ego_limit)
        counted = torch.stack(alive).to(commanded.dtype)  # (frames, B): alive before each step
        after = torch.stack([*speeds[1:], self.task.state.speed_mps[:, 0]])  # after each step
        frames = counted.sum(0)
        speed_sum = (counted * after).sum(0)
        self._speed_sum += speed_sum
        self._frames += frames
        frames = frames.clamp(min=1)
        return speed_sum / frames, (counted * commanded**2).sum(0) / frames

    def _yield_acceleration(self, gap_m: Tensor, lane_end_m: Tensor, desired_mps: Tensor) -> Tensor:
        """``RulePlanner._yield_acceleration`` where the decision yields: IDM towards where the ego
        waits for the conflict ``gap_m`` ahead (its lane's end ``lane_end_m`` ahead, or the
        conflict), as towards a standing car; ``inf`` where it goes
        (:func:`~planning.conflict.yield_gaps_m`)."""
        state = self.task.state
        speed = state.speed_mps[:, 0]
        stop_gap = yield_gaps_m(
            gap_m, lane_end_m, state.length_m[:, 0], speed, self.rules.max_yield_deceleration_mps2
        )
        safe_gap = stop_gap.clamp(min=0.1)
        follow = CAR_FOLLOWING[self.rules.car_following](
            speed,
            desired_mps,
            gap_m=torch.where(torch.isfinite(safe_gap), safe_gap, 1e9),
            lead_speed_mps=torch.zeros_like(speed),
            parameters=self.rules.idm,
        )
        applies = self.yields & torch.isfinite(stop_gap)
        return torch.where(applies, follow, torch.inf)

    def changing_direction(self) -> Tensor:
        """-1 while the ego changes lane to the left, +1 to the right, 0 once it has arrived."""
        state, road = self.task.state, self.task.road
        lane, target = state.lane[:, 0], state.target_lane[:, 0]
        _, lateral = roads.local_coordinates(
            LaneView.of(road, target), state.x_m[:, 0], state.y_m[:, 0]
        )
        arrived = (lane == target) & (lateral.abs() < self.rules.arrival_offset_m)
        self.direction = torch.where(
            arrived | (road.road[lane] != road.road[target]), 0, self.direction
        )
        return self.direction

    # -- what the policy sees -------------------------------------------------------------------

    def _followed_lane(self, state: NetworkState) -> Tensor:
        """The ego's lane as the stack's ground truth reports it: its closest lane, or the route's
        where that one leaves the route at a fork (:func:`sims.groundtruth.followed_lane`)."""
        return followed_lane(
            self.task.road,
            state.lane[:, 0],
            state.x_m[:, 0],
            state.y_m[:, 0],
            state.route_road[:, 0],
            state.route_lane[:, 0],
        )

    def _centreline(self, state: NetworkState, lane: Tensor) -> Centrelines:
        return centrelines(
            self.task.road,
            lane,
            state.x_m[:, 0],
            state.y_m[:, 0],
            state.route_road[:, 0],
            state.route_lane[:, 0],
        )

    def _station(self, line: Centrelines, state: NetworkState) -> tuple[Tensor, Tensor]:
        """The ego's station and offset on its lane's centreline [m], as the stack's
        :func:`~sims.frenet.to_frenet` reads them."""
        return project(
            line.x_m, line.y_m, line.heading_rad, line.station_m, state.x_m[:, 0], state.y_m[:, 0]
        )

    def _conflict_gap_m(
        self, line: Centrelines, state: NetworkState, rows: Tensor | None = None
    ) -> Tensor:
        """The junction test on the ego lane of every scene of ``state``, or of those ``rows``
        marks, where there is crossing traffic at all (``inf``: no conflict)."""
        crossing = state.present[:, 1:] & crossing_traffic(
            state.heading_rad[:, 1:], state.heading_rad[:, 0], self.rules.conflict_rules
        )
        asked = crossing.any(dim=1) if rows is None else crossing.any(dim=1) & rows
        gaps = torch.full_like(state.x_m[:, 0], torch.inf)
        (index,) = torch.nonzero(asked, as_tuple=True)
        if index.numel() == 0:
            return gaps

        def ego(values: Tensor) -> Tensor:
            return values[index, 0]

        def others(values: Tensor) -> Tensor:
            return values[index, 1:]

        gaps[index] = first_conflict_gaps_m(
            Centrelines(*(getattr(line, item.name)[index] for item in fields(Centrelines))),
            self._station(line, state)[0][index],
            Movers(*(ego(getattr(state, item.name)) for item in fields(Movers))),
            self.task.road.speed_limit_mps[ego(state.lane)],
            Movers(*(others(getattr(state, item.name)) for item in fields(Movers))),
            others(state.present),
            self.rules.conflict_rules,
        )
        return gaps

    def observe(self) -> Tensor:
        """:func:`~planning.rl.encoding.encode_observed` of every environment's ground truth, with
        the road's columns."""
        return self._observe(self.task.state, self.cruise_mps, self.changing_direction())

    def _observe(self, state: NetworkState, cruise_mps: Tensor, direction: Tensor) -> Tensor:
        """The observation of the scenes of ``state`` (all, or some), whose executors cruise at
        ``cruise_mps`` and change lane in ``direction``."""
        road = self.task.road
        lane = self._followed_lane(state)
        line = self._centreline(state, lane)
        station, offset = self._station(line, state)
        left, right = (road.left[lane] >= 0), (road.right[lane] >= 0)
        low = road.lane_id[lane] - left.long()
        high = road.lane_id[lane] + right.long()
        span = (high - low).clamp(min=1).to(offset.dtype)
        position = torch.where(high == low, 0.0, 2 * (road.lane_id[lane] - low) / span - 1)
        gap = self._conflict_gap_m(line, state)
        conflict = torch.where(torch.isfinite(gap), (gap / DISTANCE_SCALE_M).clamp(-1, 1), 1.0)
        curvature = max_curvatures(line.heading_rad, line.station_m, 0.0, ROAD_PREVIEW_M)
        curvature = (curvature * CURVATURE_SCALE_M).clamp(max=2.0)
        road_columns = torch.stack(
            [conflict, curvature, road.speed_limit_mps[lane] / SPEED_SCALE_MPS], 1
        )
        others = slice(1, None)
        observed = Observed(
            lane_position=position,
            lane_offset_m=offset,
            lanes_beside=left.to(offset.dtype) - right.to(offset.dtype),
            lane_heading_rad=interpolate(station[:, None], line.station_m, line.heading_rad)[:, 0],
            ego_x_m=state.x_m[:, 0],
            ego_y_m=state.y_m[:, 0],
            ego_speed_mps=state.speed_mps[:, 0],
            ego_heading_rad=state.heading_rad[:, 0],
            x_m=state.x_m[:, others],
            y_m=state.y_m[:, others],
            speed_mps=state.speed_mps[:, others],
            heading_rad=state.heading_rad[:, others],
            present=state.present[:, others],
        )
        return encode_observed(observed, cruise_mps, direction, road_columns)
