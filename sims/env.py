"""A highway-env environment behind a scenario, driven through ``ContinuousAction`` by our controller.

highway-env's policy frequency is set to its simulation frequency, so each :meth:`SimEnv.step` is one
simulation step: the controller closes the loop at the simulation rate and every step can be rendered,
which makes videos smooth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from highway_env.envs.common.abstract import AbstractEnv
from highway_env.envs.common.observation import ObservationType

from sims.constants import STEERING_LIMIT_RAD
from sims.environments import ENVIRONMENTS, restore_behaviour_defaults
from sims.events import ActiveEvent
from sims.fastroad import accelerate
from sims.groundtruth import GroundTruth, read_ground_truth
from sims.overlay import PixelMap
from sims.plants import install_plant
from sims.scenario import Scenario
from sims.strict import ConfigError

ACCELERATION_LIMIT_MPS2 = 6.0  # [m/s2] symmetric range of highway-env's ContinuousAction

# The stack reads ground truth directly; this is the cheapest observation highway-env computes.
_CHEAP_OBSERVATION = {
    "type": "Kinematics",
    "vehicles_count": 1,
    "features": ["presence"],
    "normalize": False,
    "clip": False,
}


class _NoObservation(ObservationType):
    """Skips highway-env's observation after reset: the stack reads ground truth, and even the
    cheapest Kinematics observation costs about 4 ms a step (it goes through pandas)."""

    def __init__(self, env: AbstractEnv) -> None:
        super().__init__(env)
        self._space = env.observation_space
        self._empty = np.zeros(self._space.shape, self._space.dtype)

    def space(self) -> spaces.Space:
        return self._space

    def observe(self) -> np.ndarray:
        return self._empty


@dataclass(frozen=True, eq=False)
class SimFrame:
    """What the simulator shows after a reset or a step: ground truth and, if rendering, an RGB image."""

    truth: GroundTruth
    image: np.ndarray | None


@dataclass(frozen=True, eq=False)
class SimStep:
    """The result of one simulation step; ``reward`` is highway-env's reward for this step."""

    frame: SimFrame
    reward: float
    terminated: bool
    truncated: bool


class SimEnv:
    """One highway-env environment configured by a :class:`Scenario`.

    :param scenario: the scenario.
    :param render: render an RGB frame at every step (needed for video and image perception).
    :param view: highway-env's rendering keys (``screen_width``, ``scaling``...) to override; with
        it, frames can be rendered on demand with :meth:`render` even when ``render`` is false.
    """

    def __init__(
        self, scenario: Scenario, *, render: bool = False, view: dict[str, Any] | None = None
    ) -> None:
        self.scenario = scenario
        config = {
            **scenario.env_config,
            **(view or {}),
            "observation": _CHEAP_OBSERVATION,
            "action": {
                "type": "ContinuousAction",
                "longitudinal": True,
                "lateral": True,
                "acceleration_range": [-ACCELERATION_LIMIT_MPS2, ACCELERATION_LIMIT_MPS2],
                "steering_range": [-STEERING_LIMIT_RAD, STEERING_LIMIT_RAD],
                "clip": True,
            },
            "simulation_frequency": scenario.simulation_hz,
            "policy_frequency": scenario.simulation_hz,
            # The scenario's length rules: highway-env's own (roundabout-v0: 11 s) never cuts it short.
            "duration": scenario.duration_s,
        }
        self._env = ENVIRONMENTS[scenario.env](
            config=config, render_mode="rgb_array" if render or view else None
        )
        self._render = render
        self._events: list[ActiveEvent] = []
        self._route: list = []
        self._vehicle_ids: dict[int, int] = {}
        self._steps = 0

    @property
    def time_s(self) -> float:
        """Time since the reset [s], counted in whole steps so that no rounding builds up."""
        return self._steps * self.dt_s

    @property
    def dt_s(self) -> float:
        """Step length [s]."""
        return self.scenario.dt_s

    @property
    def route_edges(self) -> tuple[str, ...]:
        """The ego's route to the scenario's destination as ``"start>end"`` edge names (may be empty)."""
        return tuple(f"{start}>{end}" for start, end, _ in self._route)

    @property
    def highway_env(self) -> AbstractEnv:
        """The underlying highway-env environment, for baselines that need its internals."""
        return self._env

    def reset(self, *, seed: int, ego_speed_mps: float | None = None) -> SimFrame:
        """Start an episode: reset highway-env with ``seed``, place scripted events, plan the route.

        :param seed: the episode's seed.
        :param ego_speed_mps: start the ego at this speed instead of the environment's choice.
        """
        restore_behaviour_defaults()
        self._env.reset(seed=seed)
        env = self.highway_env
        accelerate(env.road)
        env.observation_type = _NoObservation(env)
        # The scenario's car: by default highway-env's vehicle, untouched.
        install_plant(env.vehicle, self.scenario.plant)
        if ego_speed_mps is not None:
            env.vehicle.speed = ego_speed_mps
        self._steps = 0
        self._vehicle_ids = {}
        try:
            self._events = [spec.start(env.road, env.vehicle) for spec in self.scenario.events]
            self._route = self._plan_route()
        except ValueError as error:  # the scenario asks for what this road cannot give
            raise ConfigError(f"scenario '{self.scenario.id}' seed {seed}: {error}") from None
        return self._frame()

    def step(self, *, acceleration_mps2: float, steering_rad: float) -> SimStep:
        """Apply a command for one step of :attr:`dt_s`.

        :param acceleration_mps2: longitudinal acceleration [m/s2], clipped to the action range.
        :param steering_rad: front-wheel steering angle [rad], clipped to the action range.
        """
        for event in self._events:
            event.update(self.time_s)
        action = [
            acceleration_mps2 / ACCELERATION_LIMIT_MPS2,
            steering_rad / STEERING_LIMIT_RAD,
        ]  # a list, not an array: merge-v0's reward tests `action in [0, 2]`
        _, reward, terminated, truncated, _ = self._env.step(action)
        self._steps += 1
        truncated = bool(truncated) or self.time_s >= self.scenario.duration_s - 1e-9
        return SimStep(self._frame(), float(reward), bool(terminated), truncated)

    def render(self) -> np.ndarray:
        """Render the current scene as an ``H x W x 3`` uint8 RGB frame."""
        image = self._env.render()
        if image is None:
            raise RuntimeError("SimEnv was built without render or view: nothing to render")
        return image

    def pixel_map(self, *, scale: float = 1.0) -> PixelMap:
        """Where the world lies on the frame last rendered (see :mod:`sims.overlay`).

        :param scale: how much the frame is enlarged after rendering.
        """
        viewer = self.highway_env.viewer
        if viewer is None:
            raise RuntimeError("SimEnv has rendered nothing yet: no pixel map")
        surface = viewer.sim_surface
        return PixelMap(
            origin_x_m=float(surface.origin[0]),
            origin_y_m=float(surface.origin[1]),
            pixels_per_m=float(surface.scaling),
            scale=scale,
        )

    def close(self) -> None:
        self._env.close()

    def _frame(self) -> SimFrame:
        env = self.highway_env
        truth = read_ground_truth(
            env.road,
            env.vehicle,
            time_s=self.time_s,
            route=self._route,
            vehicle_ids=self._vehicle_ids,
        )
        image = self._env.render() if self._render else None
        return SimFrame(truth=truth, image=image)

    def _plan_route(self) -> list:
        """The ego's route to the scenario's destination as highway-env lane indices (lane left open)."""
        destination = self.scenario.destination
        if destination is None:
            return []
        network = self.highway_env.road.network
        start, end, _ = self.highway_env.vehicle.lane_index
        nodes = [end] if end == destination else network.shortest_path(end, destination)
        if not nodes:
            raise ValueError(
                f"scenario '{self.scenario.id}': no road from node '{end}' to '{destination}'"
            )
        path = [start, *nodes]
        return [(a, b, None) for a, b in zip(path[:-1], path[1:], strict=True)]
