"""How faithful the batched engine is to highway-env, measured two ways.

- **Trajectories** (:func:`compare_trajectories`): load a highway-env scene into the engine (float64,
  every collision pair tested), step both with the same random continuous actions, and record the
  largest position error of any vehicle and whether the crash states ever differ.
- **Statistics** (:func:`random_policy_statistics`): random-policy episodes (uniform meta-actions,
  highway-env's default action space) in each simulator from their own random initial scenes;
  crash rate, episode length and mean speed with 95% confidence intervals.

The highway-env side runs through :class:`sims.fastroad.FastRoad`, which gives highway-env's results
bit for bit (``tests/sims/test_fastroad.py``) in half the time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sims.batched.state import BatchConfig, from_highway_env
from sims.batched.task import BatchedHighway
from sims.parallel import TWO_PROCESSES, Workers, run_jobs

TOLERANCE_M = 1e-6  # [m]
META_ACTIONS = 5


@dataclass(frozen=True)
class TrajectoryComparison:
    """One episode stepped in both simulators from the same state with the same actions."""

    seed: int
    steps: int  # policy steps compared (fewer than asked when the ego crashed)
    max_error_m: float  # the largest position difference of any vehicle at any policy step
    crash_states_agree: bool
    ego_crashed: bool  # in highway-env, ending the comparison early

    @property
    def within_tolerance(self) -> bool:
        return self.crash_states_agree and self.max_error_m <= TOLERANCE_M


@dataclass(frozen=True)
class EpisodeStatistics:
    """A random-policy episode's outcome."""

    crashed: bool
    length_steps: int
    mean_speed_mps: float


def make_highway_env(ego_control: str) -> Any:
    """highway-v0 with highway-env's own defaults, and the given ego action space."""
    import highway_env  # noqa: F401  (registers the environments)

    action = "ContinuousAction" if ego_control == "continuous" else "DiscreteMetaAction"
    return gym.make("highway-v0", config={"action": {"type": action}})


def _reset(env: Any, seed: int) -> None:
    from sims.fastroad import accelerate

    env.reset(seed=seed)
    accelerate(env.unwrapped.road)


def compare_trajectory(
    seed: int, seconds: int = 10, ego_control: str = "continuous"
) -> TrajectoryComparison:
    """Step highway-env and the engine (float64) from the same state with the same random actions:
    uniform continuous actions, or uniform meta-actions when ``ego_control`` is ``"meta"``."""
    config = BatchConfig(ego_control=ego_control, collision_window=0)  # type: ignore[arg-type]
    env = make_highway_env(ego_control)
    _reset(env, seed)
    engine = BatchedHighway(1, config, dtype=torch.float64)
    engine.state = from_highway_env([env], config, device=engine.device, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    if ego_control == "continuous":
        actions: list = list(rng.uniform(-1, 1, size=(seconds, 2)))
    else:
        actions = [int(action) for action in rng.integers(META_ACTIONS, size=seconds)]
    worst, agree, steps, crashed_ego = 0.0, True, 0, False
    for action in actions:
        _, _, terminated, _, _ = env.step(action)
        engine.simulate(torch.tensor(np.array([action])))
        steps += 1
        vehicles = env.unwrapped.road.vehicles
        theirs = np.array([vehicle.position for vehicle in vehicles])
        ours = torch.stack([engine.state.x_m[0], engine.state.y_m[0]], dim=1).numpy()
        worst = max(worst, float(np.abs(theirs - ours).max()))
        crashed = np.array([vehicle.crashed for vehicle in vehicles])
        agree = agree and bool((crashed == engine.state.crashed[0].numpy()).all())
        if terminated:
            crashed_ego = True
            break
    env.close()
    return TrajectoryComparison(
        seed=seed, steps=steps, max_error_m=worst, crash_states_agree=agree, ego_crashed=crashed_ego
    )


def highway_env_episode(seed: int) -> EpisodeStatistics:
    """One random-policy (uniform meta-action) episode of highway-env's highway-v0."""
    env = make_highway_env("meta")
    _reset(env, seed)
    rng = np.random.default_rng(seed)
    speeds: list[float] = []
    crashed = False
    while True:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(META_ACTIONS)))
        speeds.append(float(env.unwrapped.vehicle.speed))
        if terminated or truncated:
            crashed = bool(terminated)
            break
    env.close()
    return EpisodeStatistics(crashed, len(speeds), float(np.mean(speeds)))


def batched_episodes(count: int, seed: int) -> list[EpisodeStatistics]:
    """The first episode of ``count`` batched environments under the same random policy."""
    config = BatchConfig(ego_control="meta")
    engine = BatchedHighway(count, config, dtype=torch.float64, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    speed_sum = torch.zeros(count, dtype=torch.float64)
    results: list[EpisodeStatistics | None] = [None] * count
    for step in range(1, config.max_steps + 1):
        action = torch.randint(META_ACTIONS, (count,), generator=generator)
        result = engine.step(action)
        speed_sum += result.ego_speed_mps
        for index in torch.nonzero(result.terminated | result.truncated).flatten().tolist():
            if results[index] is None:
                results[index] = EpisodeStatistics(
                    bool(result.terminated[index]), step, float(speed_sum[index] / step)
                )
        speed_sum = torch.where(result.terminated | result.truncated, 0.0, speed_sum)
    return [result for result in results if result is not None]


def compare_trajectories(
    seeds: list[int], *, workers: Workers = TWO_PROCESSES, on_done: Callable[[], None] | None = None
) -> list[TrajectoryComparison]:
    """:func:`compare_trajectory` for every seed, over ``workers``, in seed order.

    :param seeds: one episode each.
    :param workers: where they run (processes or Ray).
    :param on_done: called as each finishes.
    :return: the comparisons.
    """
    return sorted(_over_workers(compare_trajectory, seeds, workers, on_done), key=_seed_of)


def random_policy_statistics(
    seeds: list[int],
    *,
    batched_episodes_count: int = 2000,
    workers: Workers = TWO_PROCESSES,
    on_done: Callable[[], None] | None = None,
) -> dict:
    """Crash rate, episode length and mean speed of random-policy episodes in both simulators.

    :return: for each quantity, each simulator's mean and 95% confidence interval, the 95% interval
        of the difference, and ``agree``: whether that interval contains zero. Rates use Wilson and
        Newcombe intervals, means normal and Welch intervals.
    """
    theirs = [
        episode for _, episode in sorted(_over_workers(_numbered_episode, seeds, workers, on_done))
    ]
    ours = batched_episodes(batched_episodes_count, seed=seeds[0])
    crashes_a = np.array([float(episode.crashed) for episode in theirs])
    crashes_b = np.array([float(episode.crashed) for episode in ours])
    table = {"crash_rate": compare_proportions(crashes_a, crashes_b)}
    for name, value in (
        ("episode_length_steps", lambda episode: float(episode.length_steps)),
        ("mean_speed_mps", lambda episode: episode.mean_speed_mps),
    ):
        a = np.array([value(episode) for episode in theirs])
        b = np.array([value(episode) for episode in ours])
        table[name] = compare_means(a, b)
    return {
        "highway_env_episodes": len(theirs),
        "batched_episodes": len(ours),
        "quantities": table,
        "all_agree": all(row["agree"] for row in table.values()),
    }


Z95 = 1.959964  # the standard normal's 97.5% quantile


def compare_means(a: np.ndarray, b: np.ndarray) -> dict:
    """Means with 95% normal intervals, and the 95% interval of the difference (Welch)."""

    def summary(values: np.ndarray) -> tuple[float, float]:
        return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))

    (mean_a, error_a), (mean_b, error_b) = summary(a), summary(b)
    half = Z95 * math.sqrt(error_a**2 + error_b**2)
    difference = mean_b - mean_a
    return {
        "highway_env": {"mean": mean_a, "ci95": [mean_a - Z95 * error_a, mean_a + Z95 * error_a]},
        "batched": {"mean": mean_b, "ci95": [mean_b - Z95 * error_b, mean_b + Z95 * error_b]},
        "difference_ci95": [difference - half, difference + half],
        "method": "normal intervals; Welch interval of the difference",
        "agree": bool(abs(difference) <= half),
    }


def compare_proportions(a: np.ndarray, b: np.ndarray) -> dict:
    """Rates with 95% Wilson intervals, and Newcombe's interval of the difference.

    A random policy crashes in nearly every highway-v0 episode, and the normal interval of a rate
    near 1 is far too narrow (at 99 of 100 it rests on a single non-crash); Wilson's score interval,
    and Newcombe's hybrid interval built from two of them, keep their coverage there.
    """
    (rate_a, low_a, high_a), (rate_b, low_b, high_b) = _wilson(a), _wilson(b)
    difference = rate_b - rate_a
    low = difference - math.sqrt((rate_b - low_b) ** 2 + (high_a - rate_a) ** 2)
    high = difference + math.sqrt((high_b - rate_b) ** 2 + (rate_a - low_a) ** 2)
    return {
        "highway_env": {"mean": rate_a, "ci95": [low_a, high_a]},
        "batched": {"mean": rate_b, "ci95": [low_b, high_b]},
        "difference_ci95": [low, high],
        "method": "Wilson intervals; Newcombe's interval of the difference",
        "agree": bool(low <= 0 <= high),
    }


def _wilson(outcomes: np.ndarray) -> tuple[float, float, float]:
    """The rate of ``outcomes`` (0 or 1) and its 95% Wilson score interval."""
    count = len(outcomes)
    rate = float(outcomes.mean())
    centre = (rate + Z95**2 / (2 * count)) / (1 + Z95**2 / count)
    half = (
        Z95 * math.sqrt(rate * (1 - rate) / count + Z95**2 / (4 * count**2)) / (1 + Z95**2 / count)
    )
    return rate, centre - half, centre + half


def _over_workers(
    function: Callable, seeds: list[int], workers: Workers, on_done: Callable[[], None] | None
) -> Iterator:
    """``function(seed)`` for every seed through the project's one pool, as they finish."""
    for result in run_jobs(function, [(seed,) for seed in seeds], workers=workers):
        yield result
        if on_done:
            on_done()


def _seed_of(comparison: TrajectoryComparison) -> int:
    return comparison.seed


def _numbered_episode(seed: int) -> tuple[int, EpisodeStatistics]:
    """:func:`highway_env_episode` with its seed, to put the episodes back in seed order."""
    return seed, highway_env_episode(seed)


def trajectory_summary(comparisons: list[TrajectoryComparison]) -> dict:
    """The JSON form of a trajectory comparison."""
    return {
        "episodes": len(comparisons),
        "seconds": max((comparison.steps for comparison in comparisons), default=0),
        "tolerance_m": TOLERANCE_M,
        "episodes_within_tolerance": sum(c.within_tolerance for c in comparisons),
        "max_error_m": max((c.max_error_m for c in comparisons), default=0.0),
        "per_episode": [asdict(comparison) for comparison in comparisons],
    }
