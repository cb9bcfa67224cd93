"""How a perceiver reads vehicles by how far they are turned from the ego's heading
(issue 31: a car cutting in at 20 degrees was read at -1 to 10 degrees and late).

Runs the network over held-out frames, pairs its detections with the labelled vehicles within
50 m (Hungarian on centre distance, gated at 3 m, as ``drive bench perception``), and prints per
band of the label's absolute relative heading: the labels, the recall, and over the paired ones
the mean absolute heading error [deg], lateral (dy) error [m] and position error [m].

Usage: python docs/experiments/turned_vehicles.py WEIGHTS DATA_FOLDER [DATA_FOLDER ...]
(WEIGHTS: a trained network's folder, e.g. perception/weights/stn-cnn, the shipped one)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from perception.camera import load_network
from perception.evaluate import MATCH_GATE_M, NEAR_M, PRESENCE_THRESHOLD, predict
from perception.train import load_frames

BANDS_DEG = (0.0, 2.0, 5.0, 10.0, 20.0, 45.0, 180.0)


def main(weights: Path, folders: list[Path]) -> None:
    network, _ = load_network(weights)
    data = load_frames(*folders)
    slots = predict(network, data).slots
    rows = []  # (|heading| deg, found, heading error deg, dy error m, position error m)
    for predicted, truth in zip(slots, data["vehicles"], strict=True):
        predicted = predicted[predicted[:, 0] > PRESENCE_THRESHOLD]
        truth = truth[(truth[:, 0] > 0.5) & (np.hypot(truth[:, 1], truth[:, 2]) < NEAR_M)]
        heading = np.degrees(np.arctan2(truth[:, 6], truth[:, 5]))
        distance = np.linalg.norm(predicted[:, None, 1:3] - truth[None, :, 1:3], axis=-1)
        found = {}
        if distance.size:
            for r, c in zip(*linear_sum_assignment(distance), strict=True):
                if distance[r, c] < MATCH_GATE_M:
                    found[c] = r
        for c in range(len(truth)):
            if c in found:
                p = predicted[found[c]]
                read = np.degrees(np.arctan2(p[6], p[5]))
                error = abs((read - heading[c] + 180) % 360 - 180)
                rows.append(
                    (abs(heading[c]), 1.0, error, abs(p[2] - truth[c, 2]), distance[found[c], c])
                )
            else:
                rows.append((abs(heading[c]), 0.0, np.nan, np.nan, np.nan))
    table = np.array(rows)
    print(f"{len(data['images'])} frames, {len(table)} labelled vehicles within {NEAR_M:.0f} m")
    print("|heading| deg   labels  recall  heading err deg  dy err m  position err m")
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
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(folder) for folder in sys.argv[2:]])
