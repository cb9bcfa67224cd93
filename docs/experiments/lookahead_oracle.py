"""How fast can any lane-and-speed policy drive highway-v0 through the executor? A lookahead oracle.

The batched engine is deterministic, so a policy may try every decision in copies of the true scene
and keep the best: each second, each of the 9 decisions is followed by ``--horizon - 1`` seconds of
"keep lane, same cruise speed", and the decision with the highest return over that horizon (the
planning reward, a crash costing ``--crash-cost``) is taken. No learned policy sees the future, so
its speed and collision rate are a reference for what the executor allows, not a result.

    .venv/bin/python docs/experiments/lookahead_oracle.py [--episodes 64] [--horizon 4] [--depth 1]
        [--car-following idm|idm_plus] [--time-gap S] [--no-safety-layer]
        [--max-imposed-braking A]

``--max-imposed-braking`` changes the safety layer's bound on how hard a new follower must brake
(2 m/s2, highway-env's own MOBIL bound, in the deployed executor); ``inf`` lifts it.
"""

from __future__ import annotations

import argparse
import time

import torch

from planning.rl.batched import BatchedPlanning
from planning.rl.batched_safety import RULES
from planning.rl.env import VALIDATION_SEED
from planning.rl.executor import ACTIONS, TIME_GAP_S, Following

KEEP = next(k for k, action in enumerate(ACTIONS) if action.label == "keep/same")


def best_actions(
    task: BatchedPlanning, horizon: int, depth: int, crash_cost: float
) -> torch.Tensor:
    """Each environment's first decision of the best sequence of ``depth`` decisions (then "keep
    lane, same speed"), by the return over ``horizon`` decisions."""
    count = len(ACTIONS)
    sequences = torch.cartesian_prod(*[torch.arange(count)] * depth).view(-1, depth)
    trial = task.repeated(len(sequences))
    score = torch.zeros(trial.batch)
    alive = torch.ones(trial.batch, dtype=torch.bool)
    for decision in range(horizon):
        column = sequences[:, decision] if decision < depth else torch.full((len(sequences),), KEEP)
        step = trial.step(column.repeat(task.batch))
        score += torch.where(alive, step.reward - crash_cost * step.terminated.float(), 0.0)
        alive &= ~(step.terminated | step.truncated)
    best = score.view(task.batch, len(sequences)).argmax(1)
    return sequences[best, 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--car-following", choices=("idm", "idm_plus"), default="idm")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=4, help="decisions looked ahead")
    parser.add_argument("--depth", type=int, default=1, help="decisions varied, then keep")
    parser.add_argument("--crash-cost", type=float, default=20.0)
    parser.add_argument("--time-gap", type=float, default=TIME_GAP_S, help="the ego's IDM gap [s]")
    parser.add_argument("--no-safety-layer", action="store_true")
    parser.add_argument(
        "--max-imposed-braking",
        type=float,
        default=RULES.max_imposed_braking_mps2,
        help="the safety layer's bound on a new follower's braking [m/s2]; inf lifts it",
    )
    args = parser.parse_args()
    task = BatchedPlanning(
        args.episodes,
        seed=VALIDATION_SEED,
        safety_layer=not args.no_safety_layer,
        following=Following(args.car_following, args.time_gap),
        max_imposed_braking_mps2=args.max_imposed_braking,
    )
    task.reset(seed=VALIDATION_SEED)
    running = torch.ones(args.episodes, dtype=torch.bool)
    crashed, speeds = torch.zeros_like(running), torch.zeros(args.episodes)
    started = time.perf_counter()
    for _ in range(task.config.max_steps):
        result = task.step(best_actions(task, args.horizon, args.depth, args.crash_cost))
        done = running & (result.terminated | result.truncated)
        crashed |= done & result.terminated
        speeds = torch.where(done, result.episode_mean_speed_mps, speeds)
        running &= ~done
    print(
        f"{args.episodes} episodes, horizon {args.horizon}, depth {args.depth}, "
        f"{args.car_following} at {args.time_gap} s, "
        + (
            "safety layer off"
            if args.no_safety_layer
            else f"safety layer on (imposed braking <= {args.max_imposed_braking:g} m/s2)"
        )
        + f": collision rate {crashed.float().mean():.3f}, "
        f"mean speed {speeds.mean():.2f} m/s ({time.perf_counter() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
