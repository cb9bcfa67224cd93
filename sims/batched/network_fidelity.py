"""How faithful the batched engine is to highway-env on every road network: the same scene, stepped
in both simulators with the same actions.

:func:`compare_network_trajectory` loads a live highway-env scene into the engine (float64), steps
both with the same random actions (uniform continuous actions, or uniform meta-actions), and records
the largest position error of any vehicle or object and whether the crash states ever differ, as
:func:`sims.batched.fidelity.compare_trajectory` does for the engine's highway-v0 path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from sims.batched import network_step, roads
from sims.batched.fidelity import (
    EpisodeStatistics,
    TrajectoryComparison,
    compare_means,
    compare_proportions,
)
from sims.batched.network import (
    NetworkConfig,
    NetworkEgoControl,
    NetworkState,
    copy_vehicle,
    from_highway_env,
    keep_rows,
)
from sims.batched.physics import IdmConstants
from sims.parallel import IN_PROCESS, Workers, run_jobs

# The roads whose traffic the engine drives as highway-env does. On intersection-v0 it drives the
# regulated junction; the vehicles highway-env spawns during an episode are copied in by the
# comparison (the engine does not yet spawn them itself, nor draw that road's initial scenes).
NETWORK_ENVIRONMENTS = (
    "highway-v0",
    "merge-v0",
    "exit-v0",
    "roundabout-v0",
    "racetrack-v0",
    "intersection-v0",
)


CONTINUOUS_ONLY = frozenset({"racetrack-v0"})
"""The roads whose ego highway-env makes under ``ContinuousAction`` only (a meta-action or a
following ego needs ``DiscreteMetaAction``, whose vehicle racetrack-v0 cannot place)."""


def make_environment(
    env_id: str, ego_control: NetworkEgoControl, config: dict[str, Any] | None = None
) -> Any:
    """A highway-env environment of the suite's registry with the given ego action space.

    :param config: highway-env configuration overrides (a meta-action ego keeps the ``action`` it
        names, e.g. the road's documented meta-actions).
    """
    from sims.environments import ENVIRONMENTS

    if env_id not in NETWORK_ENVIRONMENTS:
        raise ValueError(
            f"the batched engine does not drive {env_id!r}; it drives {NETWORK_ENVIRONMENTS}"
        )
    if env_id in CONTINUOUS_ONLY and ego_control != "continuous":
        raise ValueError(
            f"{env_id} takes a continuous ego only, not {ego_control!r}: highway-env 1.12 cannot "
            "place its meta-action vehicle on the circuit (RacetrackEnv._make_vehicles)"
        )
    environment = ENVIRONMENTS[env_id]
    action = "ContinuousAction" if ego_control == "continuous" else "DiscreteMetaAction"
    overrides = dict(config or {})
    if overrides.get("action", {}).get("type", action) != action:
        raise ValueError(
            f"an ego under {ego_control} control acts through {action}, not {overrides['action']}"
        )
    if ego_control != "meta" or environment.default_config()["action"]["type"] != action:
        overrides.setdefault("action", {"type": action})
    # else: the road's own meta-actions (their target speeds), unless the overrides name others
    return environment(config=overrides) if overrides else environment()


def reset(env: Any, seed: int) -> None:
    """Reset a highway-env environment with highway-env's traffic constants as published: another
    road's reset in this process may have changed them (see
    :func:`sims.environments.restore_behaviour_defaults`)."""
    from sims.environments import restore_behaviour_defaults
    from sims.fastroad import accelerate

    restore_behaviour_defaults()
    env.reset(seed=seed)
    accelerate(env.unwrapped.road)  # the same results as highway-env's Road, faster


def config_of(env: Any, ego_control: NetworkEgoControl) -> NetworkConfig:
    """The engine's configuration for a live highway-env environment."""
    from highway_env import utils

    unwrapped = env.unwrapped
    speeds = getattr(unwrapped.action_type, "target_speeds", None)
    # Read after a reset: a road's reset may set its traffic's constants on the class.
    traffic = utils.class_from_path(unwrapped.config["other_vehicles_type"])
    return NetworkConfig(
        simulation_hz=int(unwrapped.config["simulation_frequency"]),
        policy_hz=int(unwrapped.config["policy_frequency"]),
        duration_s=float(unwrapped.config.get("duration", NetworkConfig.duration_s)),
        ego_control=ego_control,
        meta_target_speeds_mps=(20.0, 25.0, 30.0)
        if speeds is None
        else tuple(float(speed) for speed in speeds),
        idm=IdmConstants(
            comfort_acc_max_mps2=float(traffic.COMFORT_ACC_MAX),
            comfort_acc_min_mps2=float(traffic.COMFORT_ACC_MIN),
            distance_wanted_m=float(traffic.DISTANCE_WANTED),
        ),
        regulated=hasattr(unwrapped.road, "enforce_road_rules"),
        meta_actions=tuple(getattr(unwrapped.action_type, "actions", {}).values())
        or NetworkConfig.meta_actions,
    )


def simulate(
    state: NetworkState, road: roads.RoadTensors, config: NetworkConfig, action: torch.Tensor
) -> None:
    """One policy step of the engine: the ego's action, then ``frames`` simulation steps."""
    for frame in range(config.frames):
        if frame == 0:
            network_step.apply_ego_action(state, road, config, action)
        steering, acceleration = network_step.act(state, road, config)
        network_step.step(state, road, config, steering, acceleration)


SPAWNING_ROWS = 32  # rows of a scene whose vehicles come and go (intersection-v0)
SPAWNING_ROUTE_STEPS = 8


def compare_network_trajectory(
    env_id: str, seed: int, seconds: int = 10, ego_control: NetworkEgoControl = "continuous"
) -> TrajectoryComparison:
    """Step highway-env and the engine (float64) from ``env_id``'s initial scene for ``seed`` with
    the same random actions, until ``seconds`` have passed or highway-env's episode ends.

    On intersection-v0, whose vehicles come and go, the vehicles highway-env removes after a policy
    step are removed from the engine too and those it spawns are copied in; the ego is moved to the
    front of highway-env's list (the engine's row 0), in both simulators alike.
    """
    env = make_environment(env_id, ego_control)
    reset(env, seed)
    unwrapped = env.unwrapped
    road = roads.from_network(unwrapped.road.network)
    config = config_of(env, ego_control)
    spawning = env_id == "intersection-v0"
    if spawning:
        vehicles = unwrapped.road.vehicles
        vehicles.insert(0, vehicles.pop(vehicles.index(unwrapped.vehicle)))
    state = from_highway_env(
        [env],
        road,
        rows=SPAWNING_ROWS if spawning else None,
        route_steps=SPAWNING_ROUTE_STEPS if spawning else None,
    )
    members = [*unwrapped.road.vehicles, *unwrapped.road.objects]
    rng = np.random.default_rng(seed)
    worst, agree, steps = 0.0, True, 0
    while steps < seconds * config.policy_hz:
        steps += 1
        if ego_control == "continuous":
            action: Any = rng.uniform(-1, 1, 2)
            batch = torch.tensor(action[None], dtype=torch.float64)
        else:
            action = int(rng.integers(len(config.meta_actions)))
            batch = torch.tensor([action])
        simulate(state, road, config, batch)
        _, _, terminated, truncated, _ = env.step(action)
        expected = np.array([item.position for item in members])
        got = torch.stack([state.x_m[0, : len(members)], state.y_m[0, : len(members)]], -1)
        worst = max(worst, float(np.abs(expected - got.numpy()).max()))
        crashed = np.array([bool(item.crashed) for item in members])
        agree = agree and bool((crashed == state.crashed[0, : len(members)].numpy()).all())
        if terminated or truncated or not agree:
            break
        if spawning:
            state, members = _follow_membership(state, members, unwrapped, road)
    env.close()
    return TrajectoryComparison(
        seed=seed,
        steps=steps,
        max_error_m=worst,
        crash_states_agree=agree,
        ego_crashed=bool(unwrapped.vehicle.crashed),
    )


def _follow_membership(
    state: NetworkState, members: list[Any], unwrapped: Any, road: roads.RoadTensors
) -> tuple[NetworkState, list[Any]]:
    """Remove the rows of the vehicles highway-env removed and copy in those it spawned."""
    current = unwrapped.road.vehicles
    keep = torch.zeros_like(state.present)
    keep[0, : len(members)] = torch.tensor([item in current for item in members])
    state = keep_rows(state, keep)
    members = [item for item in members if item in current]
    for item in current:
        if item not in members:
            if len(members) >= state.x_m.shape[1]:
                raise ValueError(f"more than {state.x_m.shape[1]} vehicles in the scene")
            copy_vehicle(state, 0, len(members), item, road)
            members.append(item)
    return state, members


RACETRACK_ACTION = {"type": "ContinuousAction", "longitudinal": False, "lateral": True}
"""racetrack-v0's own action: steering only, at the speed the ego starts with."""


def random_policy_ego(env_id: str) -> tuple[NetworkEgoControl, dict[str, Any] | None]:
    """The ego of the random-policy statistics: uniform meta-actions, but on racetrack-v0 (no
    meta-action ego there, :func:`make_environment`) uniform steering, its own action."""
    if env_id == "racetrack-v0":
        return "continuous", {"action": RACETRACK_ACTION}
    return "meta", None


def random_action(env: Any, rng: np.random.Generator) -> Any:
    """A uniform random action of a highway-env environment's action type: one of its meta-actions
    (intersection-v0 has three), or a point of its continuous box (one or two axes)."""
    action_type = env.unwrapped.action_type
    if hasattr(action_type, "actions"):
        return int(rng.integers(len(action_type.actions)))
    return rng.uniform(-1, 1, action_type.size)


def highway_env_road_episode(env_id: str, seed: int) -> EpisodeStatistics:
    """One highway-env episode of ``env_id`` under the random policy of :func:`random_policy_ego`."""
    control, config = random_policy_ego(env_id)
    env = make_environment(env_id, control, config)
    reset(env, seed)
    rng = np.random.default_rng(seed)
    speeds, crashed = [], False
    while True:
        _, _, terminated, truncated, _ = env.step(random_action(env, rng))
        speeds.append(float(env.unwrapped.vehicle.speed))
        if terminated or truncated:
            crashed = bool(env.unwrapped.vehicle.crashed)
            break
    env.close()
    return EpisodeStatistics(crashed, len(speeds), float(np.mean(speeds)))


def batched_road_episodes(env_id: str, count: int, *, seed: int = 0) -> list[EpisodeStatistics]:
    """The first episode of each of ``count`` engine environments of ``env_id`` under the random
    policy of :func:`random_policy_ego` (float64)."""
    from sims.batched.network_task import BatchedRoads

    control, config = random_policy_ego(env_id)
    task = BatchedRoads(
        env_id, count, ego_control=control, dtype=torch.float64, seed=seed, env_config=config
    )
    generator = torch.Generator().manual_seed(seed + 1)
    speed_sum = torch.zeros(count, dtype=torch.float64)
    results: list[EpisodeStatistics | None] = [None] * count
    step = 0
    while any(result is None for result in results):
        step += 1
        if control == "meta":
            actions = len(task.config.meta_actions)
            action = torch.randint(actions, (count,), generator=generator)
        else:
            axes = sum(task.action_axes)
            action = torch.rand(count, axes, generator=generator, dtype=torch.float64) * 2 - 1
        result = task.step(action)
        speed_sum += result.ego_speed_mps
        done = result.terminated | result.truncated
        for index in torch.nonzero(done).flatten().tolist():
            if results[index] is None:
                results[index] = EpisodeStatistics(
                    bool(result.ego_crashed[index]),
                    step,
                    float(speed_sum[index] / step),
                )
        speed_sum = torch.where(done, 0.0, speed_sum)
    return [result for result in results if result is not None]


def _numbered_road_episode(env_id: str, seed: int) -> tuple[int, EpisodeStatistics]:
    return seed, highway_env_road_episode(env_id, seed)


def road_random_policy_statistics(
    env_id: str,
    seeds: list[int],
    *,
    batched_episodes_count: int = 2000,
    workers: Workers = IN_PROCESS,
) -> dict:
    """Crash rate, episode length and mean speed of random-policy episodes of ``env_id`` in
    highway-env (one episode per seed, over ``workers``) and in the engine, with 95% intervals
    (as :func:`sims.batched.fidelity.random_policy_statistics` for highway-v0)."""
    jobs = [(env_id, seed) for seed in seeds]
    theirs = [e for _, e in sorted(run_jobs(_numbered_road_episode, jobs, workers=workers))]
    ours = batched_road_episodes(env_id, batched_episodes_count, seed=seeds[0])
    table = {
        "crash_rate": compare_proportions(
            np.array([float(e.crashed) for e in theirs]), np.array([float(e.crashed) for e in ours])
        ),
        "episode_length_steps": compare_means(
            np.array([float(e.length_steps) for e in theirs]),
            np.array([float(e.length_steps) for e in ours]),
        ),
        "mean_speed_mps": compare_means(
            np.array([e.mean_speed_mps for e in theirs]),
            np.array([e.mean_speed_mps for e in ours]),
        ),
    }
    return {
        "env": env_id,
        "highway_env_episodes": len(theirs),
        "batched_episodes": len(ours),
        "quantities": table,
        "all_agree": all(row["agree"] for row in table.values()),
    }
