"""Where a frame's zoom can be undone, and how well it is read (issue 31, perception/zoom.py).

For zooms 0.9 and 1.1 (``drive bench perception``'s, :func:`perception.robustness.scale`), over the
held-out frames of every road, pooled as the bench pools them:
1. the network as it reads frames without the zoom reading (its transformer's own warp);
2. its transformer given the exact warp that undoes the zoom (the transformer warps the stem's
   features);
3. the exact zoom undone in the pixels before the network (the bound of any zoom reading);
4. with the zoom reading, frames at zoom 1 under a faint pattern of vertical stripes (4/255, a
   square wave at the dash period a zoom of 1.2 or 0.85 would give), which fooled the first
   reading (raw brightness; highway F1 0.18);
and per road, the share of frames whose zoom :func:`perception.zoom.read_zoom` reads within 1%,
at zoom 1, 0.9 and 1.1.

Usage: python docs/experiments/zoom_reading.py WEIGHTS ROADS_FOLDER
(e.g. perception/weights/stn-cnn data/roads-320/test)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from drive.bench.bench_perception_roads import pooled_figures, visible
from perception.camera import load_network
from perception.cnn import SpatialTransformer, StnPerceptionNet
from perception.evaluate import Perturbation, predict
from perception.robustness import scale, stripes
from perception.train import load_frames
from perception.zoom import read_zoom, undo_zoom

ZOOMS = (0.9, 1.1)


def exact_warp(zoom: float) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The transformer's forward with the warp that undoes ``zoom`` instead of its own."""

    def forward(features: Tensor) -> tuple[Tensor, Tensor]:
        theta = features.new_tensor([[zoom, 0.0, 0.0], [0.0, zoom, 0.0]])
        theta = theta.expand(len(features), 2, 3)
        return SpatialTransformer.warp(features, theta), theta

    return forward


def pooled_f1(
    network: StnPerceptionNet, folders: list[Path], zoom: float, perturb: Perturbation
) -> str:
    half_m = (network.frames.half_length_m, network.frames.half_width_m)
    parts = []
    for folder in folders:
        labels = visible(load_frames(folder), zoom, half_m)
        parts.append((predict(network, labels, batch_size=64, perturb=perturb), labels))
    figures = pooled_figures(parts)
    return f"F1 {figures['presence_f1']:.3f}, position {figures['position_mae_m']:.3f} m"


def main(weights: Path, roads: Path) -> None:
    network, _ = load_network(weights)
    network.reads_zoom = False
    folders = sorted(path for path in roads.iterdir() if (path / "manifest.json").exists())
    transformer = network.transformer
    for zoom in ZOOMS:
        print(f"zoom {zoom}: as read today        ", pooled_f1(network, folders, zoom, scale(zoom)))
        transformer.forward = exact_warp(zoom)  # type: ignore[method-assign,assignment]
        print(
            f"zoom {zoom}: transformer's warp exact", pooled_f1(network, folders, zoom, scale(zoom))
        )
        del transformer.forward  # back to the class's own

        def undone(pixels: Tensor, labels: dict[str, Tensor], zoom: float = zoom) -> Tensor:
            return undo_zoom(scale(zoom)(pixels, labels), torch.full((len(pixels),), zoom))

        print(f"zoom {zoom}: undone in the pixels    ", pooled_f1(network, folders, zoom, undone))
    px_per_m = network.frames.scaling_px_per_m
    network.reads_zoom = True
    for zoom in (1.2, 0.85):
        print(
            f"stripes of zoom {zoom}, read       ",
            pooled_f1(network, folders, 1.0, stripes(zoom, px_per_m=px_per_m)),
        )
    network.reads_zoom = False
    print("road              share of frames read within 1%, at zoom 1 / 0.9 / 1.1")
    for folder in folders:
        pixels = torch.as_tensor(load_frames(folder)["images"]).permute(0, 3, 1, 2).float() / 255
        shares = []
        for zoom in (1.0, *ZOOMS):
            drawn = pixels if zoom == 1.0 else scale(zoom)(pixels, {})
            error = (read_zoom(drawn, px_per_m=px_per_m) / zoom - 1).abs()
            shares.append(f"{float((error < 0.01).float().mean()):.2f}")
        print(f"{folder.name:<18}{' / '.join(shares)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
