"""Validation of a policy while ``drive train`` trains it: held-out seeds, every road trained on.

In highway-env, the candidate policy drives each road's validation seeds through ``drive rollout``'s
own machinery (the MPC, the safety layer, the metrics); with several roads, each road's figures are
kept beside their means, so a policy that learns one road by forgetting another shows it. On the
batched engine, the episodes run there, all at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from drive.episode.stack import StackSpec
from drive.runs.rollout import RolloutRequest, aggregate, run_rollout
from drive.training.planning_env import VALIDATION_SEED, scenario_names
from planning.rl.batched_roads import RoadSpec
from sims.scenario import load_scenario

if TYPE_CHECKING:
    from drive.training.train_config import TrainConfig

FIGURES = ("return", "collision_rate", "speed_mps")  # what a validation point holds, per road


def validate_batched(config: TrainConfig, predict: Any) -> dict[str, float]:
    """The figures of ``predict`` (observations to actions) on the batched engine's validation seeds:
    on the highway, or with the road interface on every road trained on (as
    :func:`validate_on_roads` reports them)."""
    from planning.rl.batched import evaluate_batched

    if config.interface == "road":
        from planning.rl.roads_vecenv import evaluate_roads_batched

        per_road = evaluate_roads_batched(
            predict,
            road_specs(config.scenario),
            episodes=config.eval_episodes,
            seed=VALIDATION_SEED,
            executor_config=config.executor_config,
        )
        return _with_means(per_road)
    return evaluate_batched(
        predict,
        episodes=config.eval_episodes,
        seed=VALIDATION_SEED,
        safety_layer=config.safety_layer,
        executor_config=config.executor_config,
    )


def validate_on_roads(config: TrainConfig, candidate: Path) -> dict[str, float]:
    """The figures of the policy saved at ``candidate`` on every road of ``config.scenario``: their
    means, and with several roads each road's as ``ROAD/FIGURE``."""
    roads = scenario_names(config.scenario)
    return _with_means({road: validate_on(config, candidate, road) for road in roads})


def _with_means(per_road: dict[str, dict[str, float]]) -> dict[str, float]:
    """The roads' mean figures, and with several roads each road's as ``ROAD/FIGURE``."""
    point = {
        key: sum(figures[key] for figures in per_road.values()) / len(per_road) for key in FIGURES
    }
    if len(per_road) > 1:
        for road, figures in per_road.items():
            point.update({f"{road}/{key}": value for key, value in figures.items()})
    return point


def road_specs(scenario: str) -> list[RoadSpec]:
    """The roads of ``scenario`` (ids separated by commas) as the batched engine's road-interface
    environments take them: each scenario's road, destination, configuration and duration.

    :raises ConfigError: for a scenario the engine cannot honour, naming it and why.
    """
    from drive.training.baseline import check_network

    specs = []
    for name in scenario_names(scenario):
        road = load_scenario(name)
        check_network(road, "follow")  # the road interface's executor
        specs.append(
            RoadSpec(
                road.env,
                name=road.id,
                destination=road.destination,
                env_config=dict(road.env_config),
                duration_s=road.duration_s,
                events=tuple(road.events),
            )
        )
    return specs


def validate_on(config: TrainConfig, candidate: Path, road: str) -> dict[str, float]:
    """Return, collision rate and speed of the policy at ``candidate`` on one road's seeds."""
    request = RolloutRequest(
        scenario=load_scenario(road),
        stack=StackSpec(planner=str(candidate), controller=config.controller),
        episodes=config.eval_episodes,
        seed=VALIDATION_SEED,
        workers=config.envs,
    )
    summary = aggregate(run_rollout(request))
    return {
        "return": summary["mean_return"],
        "collision_rate": summary["collision_rate"],
        "speed_mps": summary["mean_speed_mps"],
    }
