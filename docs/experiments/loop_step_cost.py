"""Wall time per control step of one closed-loop episode, for a given planner and controller.

Used for issue #28 to measure what moving a rule into torch (called with a batch of one) costs the
loop. Run it at two commits (``PYTHONPATH=<checkout>``), alternating, on the same machine:

    python docs/experiments/loop_step_cost.py rules builtin
    python docs/experiments/loop_step_cost.py rules mpc intersection   # another scenario

Issue 30 used it for the junction test in torch: ``PYTHONPATH=<checkout> python
docs/experiments/loop_step_cost.py rules mpc intersection`` at the previous commit and this one.
"""

from __future__ import annotations

import sys

from drive.episode.loop import run_episode
from drive.episode.stack import StackSpec
from sims.scenario import load_scenario

if __name__ == "__main__":
    planner, controller = sys.argv[1], sys.argv[2]
    scenario = sys.argv[3] if len(sys.argv) > 3 else "highway"
    result = run_episode(
        load_scenario(scenario), StackSpec(planner=planner, controller=controller), seed=100_000
    )
    print(
        f"{planner}+{controller}: {1000 / result.timing['steps_per_s']:.2f} ms per control step "
        f"(controller {result.timing['control_ms']:.3f} ms, planner "
        f"{result.timing['planning_ms']:.3f} ms), {result.metrics.steps} steps"
    )
