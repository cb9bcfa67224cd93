"""How fast can a lane-choosing policy drive highway-v0 through the executor? A measured experiment.

A hand-written policy over the RL planner's own observation: always ask for a higher cruise speed,
and change towards the adjacent lane whose nearest vehicle ahead is farthest (plus 10 s of its speed
difference), if it beats the current lane by ``--margin`` metres. It runs on the batched planning
environment (``planning.rl.batched``), 512 episodes of 40 s from the validation seed, with and
without the safety layer.

    .venv/bin/python docs/experiments/gap_seeking.py [--margin 5] [--episodes 512]
        [--car-following idm|idm_plus] [--time-gap S]
"""

from __future__ import annotations

import argparse

import numpy as np

from drive.training.planning_env import VALIDATION_SEED
from planning.rl.batched import evaluate_batched
from planning.rl.encoding import DISTANCE_SCALE_M, LATERAL_SCALE_M, RELATIVE_SPEED_SCALE_MPS
from planning.rl.executor import ACTIONS, TIME_GAP_S, ExecutorConfig

LANE_WIDTH_M = 4.0


def gap_seeking(margin_m: float):
    """The policy: observations ``(B, 11, 7)`` to action indices ``(B,)``."""
    index = {action.label: k for k, action in enumerate(ACTIONS)}

    def policy(observation: np.ndarray) -> np.ndarray:
        ego, others = observation[:, 0], observation[:, 1:]
        present = others[..., 0] > 0.5
        dx = others[..., 1] * DISTANCE_SCALE_M
        # The lateral offset from the ego's lane centre, in lanes, tells each vehicle's lane.
        lane = np.rint(
            (others[..., 2] * LATERAL_SCALE_M + ego[:, None, 2] * LATERAL_SCALE_M) / LANE_WIDTH_M
        )
        closing = others[..., 3] * RELATIVE_SPEED_SCALE_MPS
        scores = []
        for side in (-1, 0, 1):
            ahead = present & (lane == side) & (dx > 0)
            score = np.where(ahead, dx + 10 * closing, np.inf).min(axis=1)
            score = np.where(np.isinf(score), 1e3, score)
            if side == -1:
                score = np.where(ego[:, 6] < 0, -np.inf, score)  # no lane on the left
            if side == 1:
                score = np.where(ego[:, 6] > 0, -np.inf, score)  # no lane on the right
            scores.append(score)
        left, here, right = scores
        action = np.full(len(observation), index["keep/faster"])
        action = np.where((right > here + margin_m) & (right > left), index["right/faster"], action)
        return np.where((left > here + margin_m) & (left >= right), index["left/faster"], action)

    return policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--margin", type=float, default=5.0, help="metres a lane must gain")
    parser.add_argument(
        "--time-gap", type=float, default=TIME_GAP_S, help="the ego's IDM time gap [s]"
    )
    parser.add_argument("--car-following", choices=("idm", "idm_plus"), default="idm")
    parser.add_argument("--episodes", type=int, default=512)
    args = parser.parse_args()
    for layer in (True, False):
        figures = evaluate_batched(
            gap_seeking(args.margin),
            episodes=args.episodes,
            seed=VALIDATION_SEED,
            safety_layer=layer,
            executor_config=ExecutorConfig(args.car_following, args.time_gap),
        )
        print(f"safety layer {'on ' if layer else 'off'}: {figures}")


if __name__ == "__main__":
    main()
