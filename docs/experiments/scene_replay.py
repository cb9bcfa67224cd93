"""Step by step, the vehicles near the ego as ground truth, the tracker and the network see them
(issue 31: how a cut-in reaches the planner from pixels).

The rule planner drives highway-v0 from pixels (``--perception cnn``). For steps FIRST..LAST, every
vehicle within RADIUS metres prints as (dx, dy, speed, heading relative to the ego's), from the
ground truth, from the tracker's scene, and as the network's detections with their presence.

Usage: python docs/experiments/scene_replay.py SEED FIRST LAST RADIUS_M [ACCELERATION_STD]
ACCELERATION_STD [m/s2] replaces the tracker's process noise (``TrackerConfig.acceleration_std_mps2``).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

from drive.episode.loop import ClosedLoop
from drive.episode.stack import Stack, StackSpec
from perception.camera import TrackedCnnPerceiver
from perception.ground_truth_perceiver import GroundTruthPerceiver
from perception.tracker import Detection, MultiObjectTracker, TrackerConfig
from sims.groundtruth import EgoState, VehicleState
from sims.scenario import load_scenario


def near(
    ego: EgoState, rows: Iterable[tuple[float, float, float, float, str]], radius_m: float
) -> str:
    """``rows`` of (x, y, speed, heading, extra) within ``radius_m`` of the ego, relative to it."""
    return " ".join(
        f"({x - ego.x_m:5.1f},{y - ego.y_m:6.2f} v{speed:4.1f} "
        f"h{math.degrees(heading - ego.heading_rad):5.1f}{extra})"
        for x, y, speed, heading, extra in rows
        if math.hypot(x - ego.x_m, y - ego.y_m) < radius_m
    )


def main(seed: int, first: int, last: int, radius_m: float, acceleration_std: float | None) -> None:
    scenario = load_scenario("highway")
    stack = Stack.build(StackSpec(perception="cnn"), dt_s=scenario.dt_s, plant=scenario.plant)
    perceiver = stack.perceiver
    assert isinstance(perceiver, TrackedCnnPerceiver)
    if acceleration_std is not None:
        perceiver.tracker = MultiObjectTracker(
            TrackerConfig(acceleration_std_mps2=acceleration_std)
        )
    seen: list[tuple[Detection, ...]] = [()]
    tracked = perceiver._vehicles

    def spy(detections: tuple[Detection, ...], *, time_s: float) -> tuple[VehicleState, ...]:
        seen[0] = detections
        return tracked(detections, time_s=time_s)

    perceiver._vehicles = spy  # type: ignore[method-assign]
    loop = ClosedLoop(scenario, stack)
    loop.reset(seed=seed)
    truth_perceiver = GroundTruthPerceiver()
    for step in range(last + 1):
        assert loop.frame is not None
        truth = truth_perceiver.perceive(loop.frame)
        done = loop.step()
        if step >= first:
            ego = truth.ego
            print(
                f"{step:3d} t={truth.time_s:4.2f} s, ego lane {ego.lane.index}, {done.plan.decision}"
            )
            for name, scene in (("truth  ", truth), ("tracker", done.scene)):
                rows = [(v.x_m, v.y_m, v.speed_mps, v.heading_rad, "") for v in scene.vehicles]
                print(f"    {name}", near(ego, rows, radius_m))
            detections = [
                (d.x_m, d.y_m, math.hypot(d.vx_mps, d.vy_mps), d.heading_rad, f" p{d.score:.2f}")
                for d in seen[0]
            ]
            print("    network", near(ego, detections, radius_m))
        if done.sim.terminated or done.sim.truncated:
            print(f"end at step {step}: {'collision' if done.sim.terminated else 'time'}")
            break
    loop.close()


if __name__ == "__main__":
    extra = float(sys.argv[5]) if len(sys.argv) > 5 else None
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), extra)
