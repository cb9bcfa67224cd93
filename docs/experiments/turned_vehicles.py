"""How a perceiver reads vehicles by how far they are turned from the ego's heading
(issue 31: a car cutting in at 20 degrees was read at -1 to 10 degrees and late).

Runs the network over held-out frames, pairs its detections with the labelled vehicles as
``drive bench perception`` does (:func:`perception.evaluate.match_frame`), and prints per band of
the label's absolute relative heading, over the labels within 50 m: the labels, the recall, and
over the paired ones the mean absolute heading error [deg], lateral (dy) error [m] and position
error [m]; and over the paired ones moving sideways relative to the ego (more than 1 m/s), their
mean sideways speed and the network's reading of it along the same direction [m/s].

Usage: python docs/experiments/turned_vehicles.py WEIGHTS DATA_FOLDER [DATA_FOLDER ...]
(WEIGHTS: a trained network's folder, e.g. perception/weights/stn-cnn, the shipped one)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from perception.camera import load_network
from perception.evaluate import NEAR_M, match_frame, predict
from perception.train import load_frames

BANDS_DEG = (0.0, 2.0, 5.0, 10.0, 20.0, 45.0, 180.0)


def main(weights: Path, folders: list[Path]) -> None:
    network, _ = load_network(weights)
    data = load_frames(*folders)
    slots = predict(network, data).slots
    # (|heading| deg, found, heading error deg, dy error m, position error m, sideways speed m/s,
    # its reading along the same direction m/s)
    rows = []
    for frame_slots, frame_vehicles in zip(slots, data["vehicles"], strict=True):
        match = match_frame(frame_slots, frame_vehicles)  # as drive bench perception pairs
        found = {c: r for r, c in match.pairs}
        for c, truth in enumerate(match.truth):
            if np.hypot(truth[1], truth[2]) >= NEAR_M:
                continue
            heading = np.degrees(np.arctan2(truth[6], truth[5]))
            if c not in found:
                rows.append((abs(heading), 0.0, np.nan, np.nan, np.nan, np.nan, np.nan))
                continue
            p = match.predicted[found[c]]
            error = abs((np.degrees(np.arctan2(p[6], p[5])) - heading + 180) % 360 - 180)
            distance = match.distance_m[found[c], c]
            sideways, read = np.nan, np.nan
            if abs(truth[4]) > 1.0:
                sideways, read = abs(truth[4]), p[4] * np.sign(truth[4])
            rows.append((abs(heading), 1.0, error, abs(p[2] - truth[2]), distance, sideways, read))
    table = np.array(rows)
    print(f"{len(data['images'])} frames, {len(table)} labelled vehicles within {NEAR_M:.0f} m")
    print(
        "|heading| deg   labels  recall  heading err deg  dy err m  position err m"
        "  sideways m/s (n): true / read"
    )
    for low, high in zip(BANDS_DEG[:-1], BANDS_DEG[1:], strict=True):
        band = table[(table[:, 0] >= low) & (table[:, 0] < high)]
        if not len(band):
            continue
        paired = band[band[:, 1] == 1]
        print(
            f"{low:5.0f}-{high:<5.0f} {len(band):10d}  {band[:, 1].mean():6.3f}"
            f"  {np.nanmean(paired[:, 2]) if len(paired) else np.nan:15.2f}"
            f"  {np.nanmean(paired[:, 3]) if len(paired) else np.nan:8.2f}"
            f"  {np.nanmean(paired[:, 4]) if len(paired) else np.nan:14.2f}"
            f"  {_sideways(paired)}"
        )


def _sideways(paired: np.ndarray) -> str:
    moving = paired[~np.isnan(paired[:, 5])]
    if not len(moving):
        return "-"
    return f"({len(moving)}) {moving[:, 5].mean():.2f} / {moving[:, 6].mean():.2f}"


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(folder) for folder in sys.argv[2:]])
