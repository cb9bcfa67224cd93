"""Where driving from pixels decides otherwise than ground truth (issue 31): lane changes.

The rule planner drives highway-v0 from pixels (``--perception cnn``). At every step a copy of the
planner in the same state is also given the ground truth; every step at which either starts a lane
change prints one JSON line (the step, the lane each would change to, and the leader and follower
in the ego's lane and the lanes beside it, as each scene shows them), then a summary of how often
the two agreed, at the first step and later.

Usage: python docs/experiments/decision_replay.py FIRST_SEED EPISODES
"""

from __future__ import annotations

import copy
import json
import sys
from collections import Counter

from drive.episode.loop import ClosedLoop
from drive.episode.stack import Stack, StackSpec
from perception.base import SceneState
from perception.ground_truth_perceiver import GroundTruthPerceiver
from planning.neighbours import neighbours_in
from planning.rules import RulePlanner
from sims.scenario import load_scenario


def around(scene: SceneState, lane: int) -> list[float | None] | None:
    """Lead gap, lead speed, rear gap, rear speed in ``lane`` [m, m/s], or None: no such lane."""
    geometry = scene.lane(lane)
    if geometry is None:
        return None
    near = neighbours_in(geometry, scene)
    values = (near.lead_gap_m, near.lead_speed_mps, near.rear_gap_m, near.rear_speed_mps)
    return [None if value is None else round(value, 1) for value in values]


def kind(pixels: int | None, truth: int | None) -> str:
    if pixels is not None and pixels == truth:
        return "both"
    if truth is None:
        return "pixels only"
    return "truth only" if pixels is None else "other lane"


def main(first: int, episodes: int) -> None:
    scenario = load_scenario("highway")
    truth_perceiver = GroundTruthPerceiver()
    counts: Counter[tuple[str, str]] = Counter()
    for seed in range(first, first + episodes):
        stack = Stack.build(StackSpec(perception="cnn"), dt_s=scenario.dt_s, plant=scenario.plant)
        planner = stack.planner
        assert isinstance(planner, RulePlanner)
        loop = ClosedLoop(scenario, stack)
        loop.reset(seed=seed)
        step = 0
        while True:
            assert loop.frame is not None
            truth = truth_perceiver.perceive(loop.frame)
            twin = copy.deepcopy(planner)
            before = planner._changing_to
            twin.plan(truth)
            done = loop.step()
            pixels = planner._changing_to if before is None else None
            on_truth = twin._changing_to if before is None else None
            if pixels is not None or on_truth is not None:
                lane = truth.ego.lane.index
                row = {
                    "seed": seed,
                    "step": step,
                    "pixels": pixels,
                    "truth": on_truth,
                    "lane": lane,
                    "truth_scene": {o: around(truth, lane + o) for o in (-1, 0, 1)},
                    "pixel_scene": {o: around(done.scene, lane + o) for o in (-1, 0, 1)},
                }
                print(json.dumps(row), flush=True)
                counts[(kind(pixels, on_truth), "first step" if step == 0 else "later")] += 1
            step += 1
            if done.sim.terminated or done.sim.truncated:
                break
        loop.close()
    for (what, when), count in sorted(counts.items()):
        print(f"{what:12s} {when:10s} {count}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
