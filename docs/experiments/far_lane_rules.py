"""Would the learned policies' cut-in check save the rule planner's two collisions from pixels?
(issue 31, done-when 3: highway-v0 seeds 100029 and 100044.)

The rule planner's lane-change test (``RulePlanner._is_safe``, asked when a change starts and while
it runs) is given the safety layer's check of the lane beyond the target
(:func:`planning.safety.cut_in` over the executor's far lane, 20 m of clearance), in this process
only; each seed is driven once and prints its steps and whether the ego crashed.

Usage: python docs/experiments/far_lane_rules.py far|plain PERCEPTION SEED [SEED ...]
"""

from __future__ import annotations

import sys

from drive.episode.loop import ClosedLoop
from drive.episode.stack import Stack, StackSpec
from perception.base import SceneState
from planning.rl.executor import FAR_LANE_CLEARANCE_M, _far_lane
from planning.rules import RulePlanner
from planning.safety import cut_in
from sims.groundtruth import LaneGeometry
from sims.scenario import load_scenario

_without_check = RulePlanner._is_safe


def _with_cut_in_check(
    self: RulePlanner, scene: SceneState, lane: LaneGeometry, *, fraction: float
) -> bool:
    """The rules' gap test, and no vehicle of the lane beyond moving into ``lane`` near the ego."""
    if not _without_check(self, scene, lane, fraction=fraction):
        return False
    far = _far_lane(scene, lane)
    return not bool(cut_in(far, scene.ego.speed_mps, FAR_LANE_CLEARANCE_M))


def main(variant: str, perception: str, seeds: list[int]) -> None:
    if variant == "far":
        RulePlanner._is_safe = _with_cut_in_check  # type: ignore[method-assign]
    scenario = load_scenario("highway")
    for seed in seeds:
        stack = Stack.build(
            StackSpec(perception=perception), dt_s=scenario.dt_s, plant=scenario.plant
        )
        loop = ClosedLoop(scenario, stack)
        loop.reset(seed=seed)
        crashed, steps = False, 0
        for done in loop.steps():
            steps += 1
            crashed = crashed or done.sim.frame.truth.ego.crashed
        print(variant, perception, seed, steps, "crashed" if crashed else "no crash", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(seed) for seed in sys.argv[3:]])
