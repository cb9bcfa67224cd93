"""``drive dataset --dynamics``: state, command and next-state records of the car's own driving.

The ego drives the scenario's road emptied of traffic, on the chosen plant, with the nominal MPC
closing the loop on scripted plans (a new lane and a new speed every few seconds) and an excitation
added to every command: piecewise-constant offsets on acceleration and steering, each held for a
random time, so that the records cover the car's response to inputs the MPC alone would not give.

Each episode is one file ``episode-SEED.npz`` with, per step, ``state`` (x [m], y [m], heading
[rad], speed [m/s]) before it, ``command`` (acceleration [m/s2], steering [rad]) sent, and
``next_state`` after it; ``dynamics.json`` records the settings. Files are written atomically and
an interrupted run resumes at the first missing episode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from control.base import Command
from control.bicycle import VehicleLimits
from control.registry import make_controller
from perception.ground_truth_perceiver import GroundTruthPerceiver
from planning.base import Plan
from sims.env import SimEnv
from sims.files import atomic_path, remove_temporaries, write_json
from sims.groundtruth import EgoState
from sims.parallel import IN_PROCESS, Workers, run_jobs
from sims.plants import DEFAULT_PLANT, PLANTS
from sims.reading import read_json
from sims.scenario import load_scenario
from sims.strict import ConfigError

SETTINGS_FILE = "dynamics.json"
DRIVER = "mpc"  # the nominal MPC drives: it knows nothing of the plant


@dataclass(frozen=True)
class DynamicsDatasetConfig:
    """What ``drive dataset --dynamics`` drives.

    :param plant: the car, a name of :data:`sims.plants.PLANTS`.
    :param scenario: a highway-v0 scenario whose road is driven, emptied of traffic.
    :param episodes: episodes; episode ``k`` has seed ``seed + k``.
    :param seed: seed of the first episode.
    :param duration_s: length of each episode [s].
    :param plan_every_s: mean time between new plans (lane and speed) [s].
    :param min_speed_mps: slowest planned speed [m/s].
    :param max_speed_mps: fastest planned speed [m/s].
    :param excitation_acceleration_mps2: largest acceleration offset added to a command [m/s2].
    :param excitation_steering_rad: largest steering offset added to a command [rad].
    :param excitation_hold_s: longest time an offset is held [s].
    """

    plant: str = DEFAULT_PLANT
    scenario: str = "highway"
    episodes: int = 12
    seed: int = 0
    duration_s: float = 30.0
    plan_every_s: float = 5.0
    min_speed_mps: float = 15.0
    max_speed_mps: float = 35.0
    excitation_acceleration_mps2: float = 1.0
    excitation_steering_rad: float = 0.02
    excitation_hold_s: float = 1.0

    def __post_init__(self) -> None:
        if self.plant not in PLANTS:
            raise ConfigError(f"unknown plant '{self.plant}'; valid: {', '.join(PLANTS)}")
        if self.episodes < 1 or self.seed < 0:
            raise ConfigError("episodes must be >= 1 and seed >= 0")
        if not 0 < self.min_speed_mps <= self.max_speed_mps:
            raise ConfigError("need 0 < min_speed_mps <= max_speed_mps")
        for name in ("duration_s", "plan_every_s", "excitation_hold_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")


def episode_records(config: DynamicsDatasetConfig, seed: int) -> dict[str, np.ndarray]:
    """Drive episode ``seed`` and return its ``state``, ``command`` and ``next_state`` arrays."""
    base = load_scenario(config.scenario)
    if base.env != "highway-v0":
        raise ConfigError(
            f"scenario '{config.scenario}' runs {base.env}; dynamics are logged on highway-v0"
        )
    scenario = dataclasses.replace(
        base,
        duration_s=config.duration_s,
        env_config={**base.env_config, "vehicles_count": 0},
        events=(),
        plant=config.plant,
    )
    rng = np.random.default_rng(seed)
    sim = SimEnv(scenario)
    controller = make_controller(DRIVER, dt_s=sim.dt_s)
    perceiver = GroundTruthPerceiver()
    rows: dict[str, list[np.ndarray]] = {"state": [], "command": [], "next_state": []}
    try:
        frame = sim.reset(seed=seed, ego_speed_mps=float(rng.uniform(20.0, 30.0)))
        scene = perceiver.perceive(frame)
        lane, speed = scene.ego.lane.index, frame.truth.ego.speed_mps
        next_plan_s, next_offset_s, offset = 0.0, 0.0, np.zeros(2)
        while True:
            time_s = frame.truth.time_s
            scene = perceiver.perceive(frame)
            if time_s >= next_plan_s:
                lanes = [candidate.lane.index for candidate in scene.lanes]
                lane = int(rng.choice([i for i in lanes if abs(i - lane) <= 1]))
                speed = float(rng.uniform(config.min_speed_mps, config.max_speed_mps))
                next_plan_s = time_s + rng.uniform(0.5, 1.5) * config.plan_every_s
            if time_s >= next_offset_s:
                scale = np.array(
                    [config.excitation_acceleration_mps2, config.excitation_steering_rad]
                )
                offset = rng.uniform(-1.0, 1.0, 2) * scale * (rng.random() > 0.3)
                next_offset_s = time_s + rng.uniform(0.1, 1.0) * config.excitation_hold_s
            target = scene.lane(lane) or scene.lane(scene.ego.lane.index)
            assert target is not None
            plan = Plan(
                target_lane=target.lane,
                target_speed_mps=speed,
                centreline=target.centreline,
                decision="cruise",
            )
            command = _excited(controller.control(scene.ego, plan), offset, controller.limits)
            step = sim.step(
                acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
            )
            rows["state"].append(_state(frame.truth.ego))
            rows["command"].append(np.array([command.acceleration_mps2, command.steering_rad]))
            rows["next_state"].append(_state(step.frame.truth.ego))
            frame = step.frame
            if step.terminated or step.truncated:
                break
    finally:
        sim.close()
    return {name: np.stack(values) for name, values in rows.items()}


def _excited(command: Command, offset: np.ndarray, limits: VehicleLimits) -> Command:
    """The controller's command plus the excitation, within the actuation limits."""
    return Command(
        acceleration_mps2=float(
            np.clip(
                command.acceleration_mps2 + offset[0],
                -limits.max_braking_mps2,
                limits.max_acceleration_mps2,
            )
        ),
        steering_rad=float(
            np.clip(
                command.steering_rad + offset[1], -limits.max_steering_rad, limits.max_steering_rad
            )
        ),
    )


def _state(ego: EgoState) -> np.ndarray:
    return np.array([ego.x_m, ego.y_m, ego.heading_rad, ego.speed_mps])


def episode_path(out: Path, seed: int) -> Path:
    """Where episode ``seed`` of a dynamics dataset lives."""
    return out / f"episode-{seed:05d}.npz"


def generate_dynamics(
    config: DynamicsDatasetConfig,
    out: Path,
    *,
    on_episode: Callable[[int], None] | None = None,
    workers: Workers = IN_PROCESS,
) -> list[Path]:
    """Write the dataset's missing episodes to ``out``; call ``on_episode(seed)`` after each.

    :param workers: where the episodes run (:mod:`sims.parallel`: processes or Ray); each episode
        is written by this process as it comes back, so an interrupted run keeps those finished.
    :return: every episode's path, in seed order.
    :raises ConfigError: ``out`` holds a dataset of other settings.
    """
    settings = {"config": asdict(config), "dt_s": load_scenario(config.scenario).dt_s}
    existing = out / SETTINGS_FILE
    if existing.exists():
        if read_json(existing, "dynamics dataset settings") != settings:
            raise ConfigError(f"{existing}: a dataset of other settings; choose another --out")
        remove_temporaries(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(existing, settings)
    seeds = range(config.seed, config.seed + config.episodes)
    missing = {seed for seed in seeds if not episode_path(out, seed).exists()}
    for seed in seeds:
        if on_episode is not None and seed not in missing:
            on_episode(seed)
    with closing(
        run_jobs(
            _numbered_records,
            [(seed,) for seed in seeds if seed in missing],
            workers=workers,
            shared=(config,),
        )
    ) as results:
        for seed, records in results:
            with atomic_path(episode_path(out, seed)) as temporary:
                np.savez(temporary, **records)
            if on_episode is not None:
                on_episode(seed)
    return [episode_path(out, seed) for seed in seeds]


def _numbered_records(config: DynamicsDatasetConfig, seed: int) -> tuple[int, dict[str, Any]]:
    return seed, episode_records(config, seed)


def load_dynamics_dataset(folder: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]]]:
    """The settings and the episodes of a dynamics dataset, in seed order.

    :raises ConfigError: naming the folder when it holds no dynamics dataset.
    """
    settings_path = folder / SETTINGS_FILE
    if not settings_path.is_file():
        raise ConfigError(f"{folder}: no dynamics dataset ({SETTINGS_FILE} missing)")
    settings = read_json(settings_path, "dynamics dataset settings")
    episodes = []
    for path in sorted(folder.glob("episode-*.npz")):
        with np.load(path) as archive:
            episodes.append({name: archive[name] for name in ("state", "command", "next_state")})
    if not episodes:
        raise ConfigError(f"{folder}: the dynamics dataset holds no episode")
    return settings, episodes
