"""How fast can any lane-and-speed policy drive highway-v0 through the executor? A lookahead oracle.

The batched engine is deterministic, so a policy may try every decision in copies of the true scene
and keep the best: each second, each of the 9 decisions is followed by ``--horizon - 1`` seconds of
"keep lane, same cruise speed", and the decision with the highest score over that horizon is taken:
the planning reward, or with ``--score speed`` the speed term alone, without the reward's costs of
lane changes and discomfort; a crash costs ``--crash-cost``. No learned policy sees the future, so
its speed and collision rate are a reference for what the executor allows, not a result.

    .venv/bin/python docs/experiments/lookahead_oracle.py [--episodes 64] [--horizon 4] [--depth 1]
        [--score reward|speed] [--car-following idm|idm_plus] [--time-gap S] [--no-safety-layer]
        [--max-imposed-braking A] [--min-front-gap M] [--min-rear-gap M] [--no-far-lane-check]
        [--far-lane-clearance M] [--wait-for-gap]

The last six set the safety layer, whose defaults are the rule planner's (as ``polite`` deploys):
the bound on how hard a new follower must brake (2 m/s2, highway-env's own MOBIL bound; ``inf`` lifts
it), the bumper gaps to the new leader (10 m) and follower (8 m), the veto while the lane beyond
has a vehicle alongside or less than the clearance (20 m) ahead, and whether a vetoed change waits
for its gap until the next decision (it does not).
"""

from __future__ import annotations

import argparse
import time

import torch

from drive.training.planning_env import REWARD_SPEED_RANGE_MPS, VALIDATION_SEED
from planning.rl.batched import BatchedPlanning
from planning.rl.executor import ACTIONS, TIME_GAP_S, ExecutorConfig, SafetyMargins

KEEP = next(k for k, action in enumerate(ACTIONS) if action.label == "keep/same")


def best_actions(
    task: BatchedPlanning, horizon: int, depth: int, crash_cost: float, score_by: str
) -> torch.Tensor:
    """Each environment's first decision of the best sequence of ``depth`` decisions (then "keep
    lane, same speed"), by the score (``score_by``: "reward" or "speed") over ``horizon``
    decisions."""
    count = len(ACTIONS)
    sequences = torch.cartesian_prod(*[torch.arange(count)] * depth).view(-1, depth)
    trial = task.repeated(len(sequences))
    score = torch.zeros(trial.batch)
    alive = torch.ones(trial.batch, dtype=torch.bool)
    for decision in range(horizon):
        column = sequences[:, decision] if decision < depth else torch.full((len(sequences),), KEEP)
        step = trial.step(column.repeat(task.batch))
        gain = step.reward if score_by == "reward" else speed_term(step.speed_mps)
        score += torch.where(alive, gain - crash_cost * step.terminated.float(), 0.0)
        alive &= ~(step.terminated | step.truncated)
    best = score.view(task.batch, len(sequences)).argmax(1)
    return sequences[best, 0]


def speed_term(speed_mps: torch.Tensor) -> torch.Tensor:
    """The reward's speed term, not clipped: [20, 30] m/s maps to [0, 1]."""
    low, high = REWARD_SPEED_RANGE_MPS
    return (speed_mps - low) / (high - low)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--car-following", choices=("idm", "idm_plus"), default="idm")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=4, help="decisions looked ahead")
    parser.add_argument("--depth", type=int, default=1, help="decisions varied, then keep")
    parser.add_argument("--crash-cost", type=float, default=20.0)
    parser.add_argument("--score", choices=("reward", "speed"), default="reward")
    parser.add_argument("--time-gap", type=float, default=TIME_GAP_S, help="the ego's IDM gap [s]")
    parser.add_argument("--no-safety-layer", action="store_true")
    parser.add_argument(
        "--max-imposed-braking",
        type=float,
        default=SafetyMargins().max_imposed_braking_mps2,
        help="the safety layer's bound on a new follower's braking [m/s2]; inf lifts it",
    )
    parser.add_argument("--min-front-gap", type=float, default=SafetyMargins().min_front_gap_m)
    parser.add_argument("--min-rear-gap", type=float, default=SafetyMargins().min_rear_gap_m)
    parser.add_argument("--no-far-lane-check", action="store_true")
    parser.add_argument(
        "--far-lane-clearance", type=float, default=SafetyMargins().far_lane_clearance_m
    )
    parser.add_argument("--wait-for-gap", action="store_true")
    args = parser.parse_args()
    margins = SafetyMargins(
        min_front_gap_m=args.min_front_gap,
        min_rear_gap_m=args.min_rear_gap,
        max_imposed_braking_mps2=args.max_imposed_braking,
        far_lane_check=not args.no_far_lane_check,
        far_lane_clearance_m=args.far_lane_clearance,
        wait_for_gap=args.wait_for_gap,
    )
    task = BatchedPlanning(
        args.episodes,
        seed=VALIDATION_SEED,
        safety_layer=not args.no_safety_layer,
        executor_config=ExecutorConfig(args.car_following, args.time_gap, margins),
    )
    task.reset(seed=VALIDATION_SEED)
    running = torch.ones(args.episodes, dtype=torch.bool)
    crashed, speeds = torch.zeros_like(running), torch.zeros(args.episodes)
    started = time.perf_counter()
    for _ in range(task.config.max_steps):
        actions = best_actions(task, args.horizon, args.depth, args.crash_cost, args.score)
        result = task.step(actions)
        done = running & (result.terminated | result.truncated)
        crashed |= done & result.terminated
        speeds = torch.where(done, result.episode_mean_speed_mps, speeds)
        running &= ~done
    print(
        f"{args.episodes} episodes, horizon {args.horizon}, depth {args.depth}, "
        f"score {args.score}, {args.car_following} at {args.time_gap} s, "
        + ("safety layer off" if args.no_safety_layer else f"safety layer on ({describe(margins)})")
        + f": collision rate {crashed.float().mean():.3f}, "
        f"mean speed {speeds.mean():.2f} m/s ({time.perf_counter() - started:.0f} s)"
    )


def describe(margins: SafetyMargins) -> str:
    """The safety layer's margins in a few words."""
    return (
        f"gaps >= {margins.min_front_gap_m:g} m ahead, {margins.min_rear_gap_m:g} m behind; "
        f"imposed braking <= {margins.max_imposed_braking_mps2:g} m/s2; far-lane check "
        + (f"to {margins.far_lane_clearance_m:g} m" if margins.far_lane_check else "off")
        + ("; waits for gaps" if margins.wait_for_gap else "")
    )


if __name__ == "__main__":
    main()
