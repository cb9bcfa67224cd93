"""Does the spatial transformer undo a frame's zoom? (issue 31)

Reads every frame of the dataset folders under SPLIT with the network in WEIGHTS and compares the
scale of its warp (the mean of the affine's two diagonal terms) with the zoom each frame was drawn
at: a transformer that undoes the zoom predicts the zoom itself.

    python docs/experiments/stn_zoom.py WEIGHTS SPLIT
    python docs/experiments/stn_zoom.py runs/perception-roads-zoom data/roads/val
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from perception.camera import load_network
from perception.train import load_frames

BATCH = 64


def main(weights: Path, split: Path) -> None:
    network, _ = load_network(weights)
    folders = sorted(path for path in split.iterdir() if (path / "manifest.json").exists())
    data = load_frames(*folders)
    images = data["images"]
    with torch.no_grad():
        theta = torch.cat(
            [
                network(torch.as_tensor(images[i : i + BATCH])).theta
                for i in range(0, len(images), BATCH)
            ]
        ).numpy()
    scale, zoom = (theta[:, 0, 0] + theta[:, 1, 1]) / 2, data["zoom"]
    print(f"{len(zoom)} frames, zoom {zoom.min():.2f}-{zoom.max():.2f} (mean {zoom.mean():.3f})")
    print(f"warp scale {scale.mean():.3f} +- {scale.std():.3f}")
    print(f"correlation with the zoom {np.corrcoef(scale, zoom)[0, 1]:+.2f}")
    print(f"RMS error against the zoom {np.sqrt(np.mean((scale - zoom) ** 2)):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
