"""The baseline from highway-env's documentation: SB3 DQN acting through highway-env's meta-actions.

It is trained exactly as the documentation's quick start does (highway-fast-v0, the hyper-parameters
in :data:`RECIPE`), only with a chosen step budget, and evaluated in the scenario's own environment with
highway-env's ``DiscreteMetaAction`` controller and default Kinematics observation, one decision per
second. Its figures are comparable with ``drive rollout``'s: the same highway-env episodes (seeds),
``collision_rate`` the share of episodes where the ego crashed, ``mean_speed_mps`` the mean of the
ego's speed after each decision.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import highway_env  # noqa: F401  (registers highway-fast-v0)
import numpy as np
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback

from drive.runs.rollout import episode_seeds
from planning.registry import planner_files
from planning.rl.checkpoint import PolicyCard, load_policy, save_policy
from sims.batched.network import NetworkEgoControl
from sims.environments import ENVIRONMENTS, restore_behaviour_defaults
from sims.fastroad import accelerate
from sims.machine import machine_description
from sims.parallel import Workers, run_jobs
from sims.provenance import package_versions, provenance
from sims.scenario import Scenario
from sims.strict import ConfigError

TRAINING_ENV = "highway-fast-v0"
HIGHWAY_ENVS = ("highway-v0", "highway-fast-v0")  # trained in TRAINING_ENV, as documented
RECIPE: dict[str, Any] = {
    "policy_kwargs": {"net_arch": [256, 256]},
    "learning_rate": 5e-4,
    "buffer_size": 15_000,
    "learning_starts": 200,
    "batch_size": 32,
    "gamma": 0.8,
    "train_freq": 1,
    "gradient_steps": 1,
    "target_update_interval": 50,
}


class _Progress(BaseCallback):
    def __init__(self, on_progress: Callable[[int], None]) -> None:
        super().__init__()
        self.on_progress = on_progress

    def _on_step(self) -> bool:
        self.on_progress(self.num_timesteps)
        return True


SIMS = ("highway-env", "batched")


def batched_recipe(envs: int) -> dict[str, Any]:
    """:data:`RECIPE` scaled to ``envs`` environments at once.

    The recipe draws 32 replayed samples per new transition (one gradient step of 32 per step).
    With many environments the same ratio is kept with larger, fewer gradient steps (256 samples
    every 8 transitions), and the buffer holds more steps so that it still spans many episodes.
    """
    return {
        **RECIPE,
        "batch_size": 256,
        "gradient_steps": max(envs // 8, 1),
        "buffer_size": 100_000,
    }


def train_baseline(
    steps: int,
    out: Path,
    *,
    seed: int,
    command: str,
    on_progress: Callable[[int], None],
    sim: str = "highway-env",
    envs: int = 1,
    scenario: Scenario | None = None,
) -> float:
    """Train the documentation's DQN for ``steps`` decisions; save it in ``out``; return wall seconds.

    ``sim="highway-env"`` trains as the documentation does, in highway-fast-v0, or, given another
    road's ``scenario``, in that scenario's environment as :func:`run_baseline_episode` drives it.
    ``sim="batched"`` trains on the batched engine (:mod:`sims.batched`), ``envs`` environments at
    once, with :func:`batched_recipe`: in highway-v0 itself for the highway's scenarios, else in the
    scenario's road as :func:`batched_meta_env` makes it.
    """
    if sim not in SIMS:
        raise ValueError(f"unknown simulator {sim!r}; valid: {', '.join(SIMS)}")
    started = time.perf_counter()
    env: Any
    if sim == "batched" and scenario is not None and scenario.env not in HIGHWAY_ENVS:
        env = batched_meta_env(scenario, envs, seed=seed)
        recipe, where = batched_recipe(envs), f"{scenario.id} ({scenario.env}, sims.batched)"
    elif sim == "batched":
        from sims.batched.state import BatchConfig
        from sims.batched.vecenv import BatchedVecEnv

        env = BatchedVecEnv(envs, BatchConfig(ego_control="meta"), seed=seed)
        recipe = batched_recipe(envs)
        where = "highway-v0 (sims.batched)"
    elif scenario is not None and scenario.env not in HIGHWAY_ENVS:
        env = meta_action_env(scenario)
        recipe, where = RECIPE, f"{scenario.id} ({scenario.env})"
    else:
        env = gym.make(TRAINING_ENV)
        recipe, where = RECIPE, TRAINING_ENV
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **recipe)
    model.learn(steps, callback=_Progress(on_progress))
    env.close()
    wall_s = time.perf_counter() - started
    card = PolicyCard(
        algo="dqn",
        extractor="highway-env Kinematics, MLP [256, 256]",
        scenario=where,
        controller="highway-env DiscreteMetaAction",
        env_steps=steps,
        seed=seed,
        command=command,
        train_wall_s=round(wall_s, 1),
    )
    save_policy(model, card, out / "policy.zip")
    return wall_s


@dataclass(frozen=True)
class BaselineEpisode:
    seed: int
    collided: bool
    decisions: int
    mean_speed_mps: float
    episode_return: float


def meta_action_env(scenario: Scenario) -> Any:
    """The scenario's highway-env environment as its documentation's agents see it: the
    environment's own default observation and ``DiscreteMetaAction`` settings (roundabout-v0's
    target speeds of 0, 8 and 16 m/s; intersection-v0's longitudinal-only actions), one decision
    per second. The baseline trains here off the highway, and is evaluated here on every road.

    :raises ConfigError: for an environment documented with continuous control (racetrack-v0,
        whose ego highway-env cannot make under meta-actions).
    """
    defaults = highway_env_defaults(scenario.env)
    if defaults["action"]["type"] != "DiscreteMetaAction":
        raise ConfigError(
            f"scenario '{scenario.id}': highway-env documents {scenario.env} with "
            f"{defaults['action']['type']}, and its baseline acts through DiscreteMetaAction"
        )
    env = ENVIRONMENTS[scenario.env](config=meta_action_config(scenario))
    restore_behaviour_defaults()
    return env


def meta_action_config(scenario: Scenario) -> dict[str, Any]:
    """highway-env's configuration of ``scenario``'s road as its documentation's agents see it: the
    scenario's overrides, the road's own default observation and meta-actions, the scenario's
    simulation rate and duration, one decision per second (highway-env and the engine alike)."""
    defaults = highway_env_defaults(scenario.env)
    return {
        **scenario.env_config,
        "observation": defaults["observation"],
        "action": defaults["action"],
        "simulation_frequency": scenario.simulation_hz,
        "policy_frequency": 1,
        "duration": int(round(scenario.duration_s)),
    }


def check_batched(scenario: Scenario) -> None:
    """Refuse, by name, what of ``scenario`` the batched engine cannot honour for the baseline's
    meta-action ego: a road it has no task for or no such ego on, a scripted event it does not
    script, an ``env_config`` key it does not read.

    :raises ConfigError: naming the scenario and what is refused.
    """
    if scenario.env in HIGHWAY_ENVS:
        return
    check_network(scenario, "meta")


def check_network(scenario: Scenario, ego_control: NetworkEgoControl) -> None:
    """Refuse, by name, what of ``scenario`` the road-network engine cannot honour with an ego under
    ``ego_control``: a road it has no task for, or none for that ego
    (:data:`sims.batched.network_fidelity.CONTINUOUS_ONLY`), a scripted event it does not script
    (:func:`sims.batched.network_events.check_events`), an ``env_config`` key it does not read.

    :raises ConfigError: naming the scenario and what is refused.
    """
    from sims.batched.network_events import check_events
    from sims.batched.network_fidelity import CONTINUOUS_ONLY
    from sims.batched.network_task import DRAWS, check_honoured

    source = f"scenario '{scenario.id}'"
    if scenario.env not in DRAWS:
        raise ConfigError(
            f"{source}: the batched engine has no task for {scenario.env}; "
            f"it has {', '.join(sorted(DRAWS))}"
        )
    if scenario.env in CONTINUOUS_ONLY and ego_control != "continuous":
        raise ConfigError(
            f"{source}: the batched engine drives {scenario.env} with a continuous ego only, "
            f"not a {ego_control} one (highway-env 1.12 cannot place a meta-action vehicle there)"
        )
    check_events(scenario.events, scenario.env, source=source)
    check_honoured(scenario.env_config, source=source)


def batched_meta_env(scenario: Scenario, envs: int, *, seed: int) -> Any:
    """The scenario's road on the batched engine as :func:`meta_action_env` makes it in highway-env
    (the road's documented observation and meta-actions, one decision per second, the scenario's
    duration), ``envs`` environments at once, as a Stable-Baselines3 ``VecEnv``.

    :raises ConfigError: for what the engine cannot honour (:func:`check_batched`).
    """
    from sims.batched.vecenv import RoadsVecEnv

    check_batched(scenario)
    return RoadsVecEnv(
        scenario.env,
        envs,
        env_config=meta_action_config(scenario),
        duration_s=scenario.duration_s,
        seed=seed,
    )


def highway_env_defaults(env_id: str) -> dict[str, Any]:
    """highway-env's own default configuration of ``env_id`` (the suite's continuous-control
    variants of merge-v0 and roundabout-v0 change it: their highway-env parent class is asked)."""
    own = next(c for c in ENVIRONMENTS[env_id].__mro__ if c.__module__.startswith("highway_env"))
    defaults: dict[str, Any] = own.default_config()  # type: ignore[attr-defined]
    return defaults


def run_baseline_episode(scenario: Scenario, policy: Path, seed: int) -> BaselineEpisode:
    """Drive one episode of ``scenario`` from ``seed`` with the policy through meta-actions."""
    model, _ = load_policy(policy)
    env = meta_action_env(scenario)
    observation, _ = env.reset(seed=seed)
    accelerate(env.road)  # highway-env's results, faster: see sims/fastroad.py
    speeds, total = [], 0.0
    while True:
        action, _ = model.predict(observation, deterministic=True)
        observation, reward, terminated, truncated, _ = env.step(int(action))
        speeds.append(float(env.vehicle.speed))
        total += float(reward)
        if terminated or truncated:
            break
    env.close()
    return BaselineEpisode(
        seed=seed,
        collided=bool(env.vehicle.crashed),
        decisions=len(speeds),
        mean_speed_mps=round(float(np.mean(speeds)), 6),
        episode_return=round(total, 6),
    )


def evaluate_baseline(
    scenario: Scenario,
    policy: Path,
    *,
    episodes: int,
    seed: int,
    workers: int,
    on_episode: Callable[[BaselineEpisode], None],
) -> dict[str, Any]:
    """Run the episodes over ``workers`` processes; a JSON document like ``drive rollout``'s."""
    seeds = episode_seeds(seed, episodes)
    finished: dict[int, BaselineEpisode] = {}
    jobs = [(scenario, policy, s) for s in seeds]
    for result in run_jobs(run_baseline_episode, jobs, workers=Workers(workers)):
        finished[result.seed] = result
        on_episode(result)
    results = [finished[s] for s in seeds]
    _, card = load_policy(policy)
    return {
        "config": {
            "scenario": scenario.id,
            "env": scenario.env,
            "stack": {"planner": f"sb3-dqn ({policy})", "controller": card.controller},
            "episodes": episodes,
            "seed": seed,
            "policy_card": asdict(card),
        },
        "machine": machine_description(),
        "versions": package_versions(),
        "provenance": provenance(planner_files(str(policy))),
        "aggregate": {
            "episodes": len(results),
            "collision_rate": round(float(np.mean([r.collided for r in results])), 6),
            "mean_speed_mps": round(float(np.mean([r.mean_speed_mps for r in results])), 6),
            "mean_return": round(float(np.mean([r.episode_return for r in results])), 6),
        },
        "episodes": [asdict(r) for r in results],
    }
