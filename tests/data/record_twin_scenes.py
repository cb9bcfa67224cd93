"""Record the highway-v0 scenes on which tests/test_twins.py runs both paths of every shared rule.

Each scene is kept twice, as each path reads it: the perceived scene (ground truth: the ego, the
vehicles within sensing range, the ego's lane and its neighbours with their centrelines) and the
batched engine's vehicle rows (``sims.batched.state.from_rows``). Numeric arrays only, so the file
loads with ``allow_pickle=False``.

Run from the repository root: ``python tests/data/record_twin_scenes.py`` (about 20 s).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from perception.registry import make_perceiver  # noqa: E402
from sims.batched.state import BatchConfig, _vehicle_rows  # noqa: E402
from sims.env import SimEnv  # noqa: E402
from sims.files import atomic_path  # noqa: E402
from sims.scenario import load_scenario  # noqa: E402

OUT = Path(__file__).with_name("twin-scenes.npz")
SEEDS = range(6)
STEPS = (0, 45, 120, 240)  # simulation steps into each episode at which a scene is kept


def record() -> dict[str, np.ndarray]:
    sim = SimEnv(load_scenario("highway"))
    perceiver = make_perceiver("groundtruth")
    config = BatchConfig(ego_control="follow")
    arrays: dict[str, np.ndarray] = {}
    k = 0
    try:
        for seed in SEEDS:
            frame = sim.reset(seed=seed)
            step = 0
            for keep in STEPS:
                ended = False
                while step < keep and not ended:  # a gentle weave, to catch vehicles mid-lane
                    result = sim.step(
                        acceleration_mps2=0.3, steering_rad=0.01 * np.sin(step / 7 + seed)
                    )
                    frame, step = result.frame, step + 1
                    ended = result.terminated or result.truncated
                if ended:
                    break
                scene = perceiver.perceive(frame)
                ego = scene.ego
                arrays[f"{k}/time_s"] = np.array(scene.time_s)
                arrays[f"{k}/ego"] = np.array(
                    [
                        ego.x_m,
                        ego.y_m,
                        ego.heading_rad,
                        ego.speed_mps,
                        ego.length_m,
                        ego.width_m,
                        ego.lane.index,
                    ]
                )
                arrays[f"{k}/vehicles"] = np.array(
                    [
                        [
                            v.vehicle_id,
                            v.x_m,
                            v.y_m,
                            v.heading_rad,
                            v.speed_mps,
                            v.length_m,
                            v.width_m,
                        ]
                        for v in scene.vehicles
                    ]
                ).reshape(-1, 7)
                arrays[f"{k}/lanes"] = np.array(
                    [[g.lane.index, g.width_m, g.speed_limit_mps] for g in scene.lanes]
                )
                arrays[f"{k}/centrelines"] = np.array(
                    [
                        [
                            g.centreline.x_m,
                            g.centreline.y_m,
                            g.centreline.heading_rad,
                            g.centreline.station_m,
                        ]
                        for g in scene.lanes
                    ]
                )
                arrays[f"{k}/rows"] = np.array(_vehicle_rows(sim.highway_env.unwrapped, config))
                arrays[f"{k}/steps"] = np.array(sim.highway_env.unwrapped.time)
                k += 1
    finally:
        sim.close()
    return arrays


if __name__ == "__main__":
    recorded = record()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **recorded)
    with atomic_path(OUT) as path:
        path.write_bytes(buffer.getvalue())
    print(f"wrote {len({key.split('/')[0] for key in recorded})} scenes to {OUT}")
