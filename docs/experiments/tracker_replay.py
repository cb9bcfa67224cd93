"""Issue 31: the tracker's errors against a single frame's detections, replayed on one episode.

The rule planner drives highway-v0 on ground truth; at every step the shipped network reads the
rendered frames and the tracker (default settings) follows its detections. Detections and tracks
are paired with the true vehicles within 50 m of the ego (Hungarian, within 3 m) and their errors
in speed [m/s], heading [rad] and the lateral drift [m] the rule planner extrapolates over
``planning.neighbours.CUT_IN_PREVIEW_S`` (1.5 s) are printed as mean and 95th percentile.

Usage: python docs/experiments/tracker_replay.py [SEED] [STEPS]
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from drive.episode.stack import Stack, StackSpec
from perception.camera import PRESENCE_THRESHOLD, CnnPerceiver, detection
from perception.cnn import unscale_slots
from perception.tracker import MultiObjectTracker
from planning.neighbours import CUT_IN_PREVIEW_S
from sims.env import SimEnv
from sims.scenario import load_scenario

NEAR_M = 50.0  # [m]
GATE_M = 3.0  # [m]


def errors(found: list[tuple[float, float, float, float]], truth: list, into: dict) -> None:
    """Pair ``found`` (x, y, speed, heading) with ``truth`` vehicles and append their errors."""
    if not found or not truth:
        return
    a = np.array(found)
    b = np.array([(v.x_m, v.y_m, v.speed_mps, v.heading_rad) for v in truth])
    distance = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=-1)
    for i, j in zip(*linear_sum_assignment(distance), strict=True):
        if distance[i, j] < GATE_M:
            into["speed_mps"].append(abs(a[i, 2] - b[j, 2]))
            into["heading_rad"].append(abs(a[i, 3] - b[j, 3]))
            drift = a[i, 2] * math.sin(a[i, 3]) - b[j, 2] * math.sin(b[j, 3])
            into["drift_m"].append(abs(drift) * CUT_IN_PREVIEW_S)


def main(seed: int, steps: int) -> None:
    torch.set_num_threads(1)
    camera = CnnPerceiver(device="cpu")
    tracker = MultiObjectTracker()
    sim = SimEnv(load_scenario("highway"), render=True, view=camera.frames.view())
    stack = Stack.build(StackSpec(), dt_s=sim.dt_s)
    stack.reset()
    measured: dict[str, dict[str, list[float]]] = {
        name: {"speed_mps": [], "heading_rad": [], "drift_m": []}
        for name in ("detections", "tracks")
    }
    frame = sim.reset(seed=seed)
    images: list[np.ndarray] = []
    history = camera._history
    for step in range(steps):
        images.append(frame.image)
        window = images[-history:]
        window = [window[0]] * (history - len(window)) + window
        stacked = np.concatenate(window[:: camera.frames.stride_steps], axis=-1)
        with torch.inference_mode():
            slots = unscale_slots(camera.network(torch.from_numpy(stacked[None])).slots[0]).numpy()
        truth = frame.truth
        found = tuple(detection(row, truth.ego) for row in slots if row[0] > PRESENCE_THRESHOLD)
        tracks = tracker.update(found, time_s=truth.time_s)
        near = [
            v
            for v in truth.vehicles
            if abs(v.x_m - truth.ego.x_m) < NEAR_M and abs(v.y_m - truth.ego.y_m) < 16
        ]
        if step > 10:  # the stack and the tracks have filled
            rows = [(d.x_m, d.y_m, math.hypot(d.vx_mps, d.vy_mps), d.heading_rad) for d in found]
            errors(rows, near, measured["detections"])
            rows = [(t.x_m, t.y_m, t.speed_mps, t.heading_rad) for t in tracks]
            errors(rows, near, measured["tracks"])
        command = stack.command(frame)
        result = sim.step(
            acceleration_mps2=command.acceleration_mps2, steering_rad=command.steering_rad
        )
        frame = result.frame
        if result.terminated or result.truncated:
            break
    sim.close()
    print(f"highway-v0 seed {seed}, {steps} steps; mean / 95th percentile")
    for name, figures in measured.items():
        cells = ", ".join(
            f"{key} {np.mean(v):.3f} / {np.percentile(v, 95):.3f}" for key, v in figures.items()
        )
        print(f"{name:10s} ({len(figures['speed_mps'])} pairs): {cells}")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 100000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 300,
    )
