"""``drive bench vision``: the detector and the two GANs on held-out frames.

Figures, each with the device it was measured on:

* the detector's mAP@0.5 and COCO mAP (torchmetrics) against the boxes of the simulator's state,
  and its throughput;
* the cGAN's PSNR and SSIM against the real frames of the same layouts, and its throughput;
* Frechet distances on our own perception network's features (:mod:`perception.frechet`) between
  the held-out real frames and the cGAN's frames of their layouts, DCGAN samples, and the real
  frames with their pixels shuffled (the baseline any generator must beat). They are not
  comparable to published, Inception-based FID values. With a reference dataset (the generators'
  training frames), real frames of other episodes are scored too: what a generator that had
  learned its training frames exactly would get, since a few held-out episodes differ from others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no window, whatever the machine has
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from drive.bench.bench_perception import shown  # noqa: E402
from perception.camera import SHIPPED_WEIGHTS  # noqa: E402
from perception.detector import SHIPPED_DETECTOR, evaluate_detector, load_detector, predict  # noqa: E402
from perception.frechet import frechet_distance, frechet_metric, shuffle_pixels  # noqa: E402
from perception.gan import (  # noqa: E402
    CGAN_WEIGHTS,
    DCGAN_WEIGHTS,
    generate_frames,
    load_cgan,
    load_dcgan,
    sample_frames,
)
from perception.gan_figures import image_figures, layout_picture  # noqa: E402
from perception.vision_data import VisionFrames, load_vision_frames  # noqa: E402
from sims.machine import machine_description  # noqa: E402
from sims.provenance import package_versions, provenance  # noqa: E402

SHUFFLE_SEED = 0
DCGAN_SEED = 0
# highway-env's colours, for the painted baselines: road, markings, other vehicles, the ego (RGB).
ROAD_RGB, MARKING_RGB, VEHICLE_RGB, EGO_RGB = (
    (100, 100, 100),
    (255, 255, 255),
    (100, 200, 255),
    (200, 200, 0),
)


def paint_layouts(layouts: np.ndarray, *, vehicles: bool) -> np.ndarray:
    """A baseline with nothing learned: each layout painted in highway-env's flat colours.

    :param layouts: ``(N, 3, H, W)`` uint8 (:func:`perception.layout.draw_layout`).
    :param vehicles: paint the vehicles too (without outlines or lights), or only the markings.
    :return: ``(N, H, W, 3)`` uint8 frames.
    """
    frames = np.empty((len(layouts), *layouts.shape[2:], 3), dtype=np.uint8)
    frames[:] = ROAD_RGB
    frames[layouts[:, 0] > 0] = MARKING_RGB
    if vehicles:
        frames[layouts[:, 1] > 0] = VEHICLE_RGB
        frames[layouts[:, 2] > 0] = EGO_RGB
    return frames


def run_vision_bench(
    data: Sequence[Path],
    *,
    device: str,
    detector: Path = SHIPPED_DETECTOR,
    cgan: Path = CGAN_WEIGHTS,
    dcgan: Path = DCGAN_WEIGHTS,
    encoder: Path = SHIPPED_WEIGHTS,
    reference: Path | None = None,
    on_stage: Callable[[str], None] = lambda stage: None,
) -> tuple[dict[str, Any], VisionFrames, dict[str, np.ndarray]]:
    """Measure everything on the held-out frames of the datasets in ``data``.

    :param device: ``cpu`` or ``cuda``, for every figure.
    :param reference: frames of other episodes (the generators' training set) to score as real
        frames; None: not scored.
    :return: the JSON document, the frames, and the generated frames by kind (for the picture).
    """
    on_stage("loading frames")
    frames = load_vision_frames(list(data))
    on_stage(f"detector on {len(frames)} frames")
    detection = evaluate_detector(load_detector(detector, device=device), frames, device=device)
    on_stage("cGAN frames from the layouts")
    layouts = frames.layouts()
    generator = load_cgan(cgan, device=device)
    started = time.perf_counter()
    cgan_frames = generate_frames(generator, layouts, device=device)
    cgan_fps = len(frames) / (time.perf_counter() - started)
    psnr_db, ssim = image_figures(cgan_frames, frames.images, device=device)
    baselines = {
        name: image_figures(paint_layouts(layouts, vehicles=vehicles), frames.images, device=device)
        for name, vehicles in (("markings", False), ("painted", True))
    }
    on_stage("DCGAN samples")
    dcgan_frames = sample_frames(
        load_dcgan(dcgan, device=device), len(frames), seed=DCGAN_SEED, device=device
    )
    shuffled = shuffle_pixels(frames.images, seed=SHUFFLE_SEED)
    on_stage("Frechet distances")
    metric = frechet_metric(encoder, device=device)
    generated = {"cgan": cgan_frames, "dcgan": dcgan_frames, "shuffled": shuffled}
    scored = dict(generated)
    if reference is not None:
        others = load_vision_frames([reference]).images
        scored["real_reference"] = others[
            np.linspace(0, len(others) - 1, min(len(frames), len(others))).round().astype(int)
        ]
    frechet = {
        kind: round(frechet_distance(metric, frames.images, images), 2)
        for kind, images in scored.items()
    }
    document = {
        "data": [str(folder) for folder in data],
        "frames": len(frames),
        "detector_map50": detection["map50"],
        "detector_map": detection["map"],
        "detector_frames_per_s": detection["frames_per_s"],
        "detector_batch_size": detection["batch_size"],
        "cgan_psnr_db": round(psnr_db, 2),
        "cgan_ssim": round(ssim, 4),
        "cgan_frames_per_s": round(cgan_fps, 1),
        # Nothing learned: the layout painted in flat colours (markings only, or vehicles too).
        **{
            f"baseline_{name}_{figure}": round(value, 4 if figure == "ssim" else 2)
            for name, pair in baselines.items()
            for figure, value in zip(("psnr_db", "ssim"), pair, strict=True)
        },
        "frechet_own_cgan": frechet["cgan"],
        "frechet_own_dcgan": frechet["dcgan"],
        "frechet_own_shuffled": frechet["shuffled"],
        # Real frames of other episodes (``reference``), evenly spread: a generator's floor here.
        "frechet_own_real_reference": frechet.get("real_reference"),
        "frechet_reference_data": str(reference) if reference is not None else None,
        "frechet_note": (
            "Frechet distance on the 128 features of our perception network "
            f"({encoder.name}), not Inception: not comparable to published FID"
        ),
        "device": {key: _device_name(device) for key in ("detector", "cgan", "dcgan", "frechet")},
        "weights": {"detector": shown(detector), "cgan": shown(cgan), "dcgan": shown(dcgan)},
        "machine": machine_description(),
        "packages": package_versions(),
        "provenance": provenance(
            [
                folder / name
                for folder in (detector, cgan, dcgan)
                for name in ("best.safetensors", "card.json")
                if (folder / name).exists()
            ]
        ),
    }
    return document, frames, generated


def _device_name(device: str) -> str:
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    return "cpu"


def plot_examples(
    frames: VisionFrames,
    generated: dict[str, np.ndarray],
    detector: Path,
    path: Path,
    *,
    count: int = 3,
) -> Path:
    """A picture: for a few held-out frames, the layout, the real frame with the detector's
    boxes, the cGAN's frame; then DCGAN samples and shuffled frames."""
    chosen = np.linspace(0, len(frames) - 1, count).astype(int)
    model = load_detector(detector, device="cpu")
    detections = predict(model, frames.images[chosen], device="cpu")
    layouts = layout_picture(frames.layouts(chosen))
    rows = count + 2
    figure, axes = plt.subplots(rows, 3, figsize=(15, 1.3 * rows), squeeze=False)
    for row, index in enumerate(chosen):
        axes[row, 0].imshow(layouts[row])
        axes[row, 1].imshow(frames.images[index])
        for box, score in zip(detections[row].boxes, detections[row].scores, strict=True):
            if score >= 0.5:
                x0, y0, x1, y1 = box
                axes[row, 1].add_patch(
                    Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="red", lw=1)
                )
        axes[row, 2].imshow(generated["cgan"][index])
    for column in range(3):
        axes[count, column].imshow(generated["dcgan"][column])
        axes[count + 1, column].imshow(generated["shuffled"][chosen[column % count]])
    titles = ["layout", "real frame, detector boxes", "cGAN from the layout"]
    for column, title in enumerate(titles):
        axes[0, column].set_title(title, fontsize=9)
    axes[count, 0].set_title("DCGAN samples", fontsize=9, loc="left")
    axes[count + 1, 0].set_title("pixel-shuffled real frames (baseline)", fontsize=9, loc="left")
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
