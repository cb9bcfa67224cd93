"""``drive bench perception``: the CNN + spatial-transformer perception on held-out frames.

Figures: position and velocity errors (overall within 50 m, and by distance band), presence
precision, recall and F1, occupancy IoU and ego-lane accuracy (:mod:`perception.evaluate`);
throughput in frames per second at batch 1 and 256 on the CPU (and CUDA when present), against
highway-env's own rendering of the same window on the same machine; and, with ``robustness``, the
same figures under the perturbations of :mod:`perception.robustness`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no window, whatever the machine has
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Polygon, Rectangle  # noqa: E402

from perception.camera import VEHICLE_LENGTH_M, VEHICLE_WIDTH_M, load_network  # noqa: E402
from perception.cnn import StnPerceptionNet  # noqa: E402
from perception.evaluate import bands, figures, predict  # noqa: E402
from perception.robustness import suite  # noqa: E402
from perception.train import check_window, load_frames  # noqa: E402
from sims.dataset import FrameSpec  # noqa: E402
from sims.env import SimEnv  # noqa: E402
from sims.machine import machine_description  # noqa: E402
from sims.provenance import package_versions, provenance  # noqa: E402
from sims.scenario import load_scenario  # noqa: E402

BATCHES = (1, 256)
MEASURE_S = 3.0  # [s] each throughput figure is timed over at least this long
ROBUSTNESS_FRAMES = 128  # frames of the held-out set the (slow) attacks run on


def frames_per_s(
    network: StnPerceptionNet,
    images: np.ndarray,
    batch: int,
    device: str,
    seconds: float = MEASURE_S,
) -> float:
    """Frames per second of ``network`` on batches of ``batch`` stacks, uint8 in to metres out.

    Batches run for ``seconds`` (at least 5 of them) after one warm-up; the figure uses the median
    batch time, so a moment of interference from another process does not decide it.
    """
    chosen = torch.as_tensor(images[np.arange(batch) % len(images)])
    times: list[float] = []
    with torch.inference_mode():

        def run() -> None:
            output = network(chosen.to(device))
            output.slots.cpu()  # to the host, as the perceiver needs it (and CUDA has finished)

        run()
        while sum(times) < seconds or len(times) < 5:
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return batch / float(np.median(times))


def render_frames_per_s(frames: FrameSpec, seconds: float = MEASURE_S) -> float:
    """highway-env's rendering of the perceiver's window (highway-v0), frames per second."""
    sim = SimEnv(load_scenario("highway"), view=frames.view())
    try:
        sim.reset(seed=0)
        sim.render()
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            sim.render()
            count += 1
    finally:
        sim.close()
    return count / elapsed


def run_perception_bench(
    weights: Path,
    data: Path,
    *,
    robustness: bool = True,
    seconds: float = MEASURE_S,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray], StnPerceptionNet]:
    """Measure the network in ``weights`` on the dataset in ``data``; see the module docstring.

    :return: the JSON document, the loaded held-out set and the network (for the pictures).
    """

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name)

    network, _ = load_network(weights)
    check_window(data, network.frames)
    held_out = load_frames(data)
    stage("figures")
    found = predict(network, held_out)
    overall = figures(found.slots, found.occupancy, found.lanes, held_out)
    document: dict[str, Any] = {
        "machine": machine_description(),
        "versions": package_versions(),
        "weights": shown(weights),
        "provenance": provenance([weights / "best.safetensors", weights / "card.json"]),
        "data": {"folder": str(data), "frames": len(held_out["images"])},
        **asdict(overall),
        "bands": bands(found.slots, held_out["vehicles"]),
    }
    stage("throughput")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    throughput = []
    for device in devices:
        on_device = network.to(device)
        for batch in BATCHES:
            rate = frames_per_s(on_device, held_out["images"], batch, device, seconds)
            throughput.append(
                {"device": _device_name(device), "batch": batch, "frames_per_s": rate}
            )
    network.to("cpu")
    document["throughput"] = throughput
    document["frames_per_s_cpu_b1"] = throughput[0]["frames_per_s"]
    document["frames_per_s_cpu_b256"] = throughput[1]["frames_per_s"]
    document["render_frames_per_s"] = render_frames_per_s(network.frames, seconds)
    if robustness:
        stage("robustness")
        document["robustness"] = robustness_report(network, held_out)
    return _json_safe(document), held_out, network


def shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (as the JSON shows it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN (a figure over no vehicles) replaced by None, which JSON allows."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def robustness_report(
    network: StnPerceptionNet, held_out: dict[str, np.ndarray]
) -> dict[str, list[dict[str, float]]]:
    """Figures under each perturbation of :func:`perception.robustness.suite`, on the first
    :data:`ROBUSTNESS_FRAMES` held-out frames; each family starts with the unperturbed frames."""
    subset = {key: value[:ROBUSTNESS_FRAMES] for key, value in held_out.items()}
    clean = _summary(network, subset, None)
    report: dict[str, list[dict[str, float]]] = {}
    for family, perturbations in suite(network).items():
        reference = 1.0 if family in ("scale", "brightness") else 0.0
        report[family] = [{"size": reference, **clean}] + [
            {"size": size, **_summary(network, subset, perturb)} for size, perturb in perturbations
        ]
    return report


def _summary(network: StnPerceptionNet, data: dict[str, np.ndarray], perturb: Any) -> dict:
    found = predict(network, data, batch_size=64, perturb=perturb)
    measured = figures(found.slots, found.occupancy, found.lanes, data)
    return {
        "position_mae_m": measured.position_mae_m,
        "velocity_mae_mps": measured.velocity_mae_mps,
        "presence_f1": measured.presence_f1,
        "occupancy_iou": measured.occupancy_iou,
    }


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def plot_robustness(document: dict[str, Any], path: Path) -> Path:
    """One panel per perturbation family: presence F1 and position error against the size."""
    report = document["robustness"]
    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5), constrained_layout=True)
    for axis, (family, rows) in zip(axes.flat, report.items(), strict=False):
        rows = sorted(rows, key=lambda row: row["size"])
        sizes = [row["size"] for row in rows]
        axis.plot(sizes, [row["presence_f1"] for row in rows], "o-", color="tab:blue")
        axis.set_ylim(0, 1.02)
        axis.set_ylabel("presence F1", color="tab:blue")
        axis.set_xlabel(_SIZE_LABELS[family])
        axis.set_title(family)
        twin = axis.twinx()
        twin.plot(sizes, [row["position_mae_m"] for row in rows], "s--", color="tab:red")
        twin.set_ylabel("position MAE [m]", color="tab:red")
        twin.set_ylim(bottom=0)
    figure.suptitle(f"Perception under perturbations ({document['weights']})")
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


_SIZE_LABELS = {
    "fgsm": "epsilon [1/255]",
    "pgd": "epsilon [1/255]",
    "noise": "sigma [1/255]",
    "scale": "zoom factor",
    "brightness": "factor",
    "colour-swap": "swapped",
}


def plot_example(network: StnPerceptionNet, held_out: dict[str, np.ndarray], path: Path) -> Path:
    """The held-out frame with the most vehicles: true (green) and predicted (red) vehicles over the
    newest frame, and the spatial transformer's sampling region (dashed) on the feature map."""
    index = int(np.argmax((held_out["vehicles"][:, :, 0] > 0.5).sum(1)))
    sample = {key: value[index : index + 1] for key, value in held_out.items()}
    found = predict(network, sample)
    with torch.no_grad():
        theta = network(torch.as_tensor(sample["images"])).theta[0].numpy()
    frames = network.frames
    half_x, half_y = frames.half_length_m, frames.half_width_m
    figure, axis = plt.subplots(figsize=(12, 3.6), constrained_layout=True)
    axis.imshow(sample["images"][0, :, :, -3:], extent=(-half_x, half_x, half_y, -half_y))
    for row in sample["vehicles"][0]:
        if row[0] > 0.5:
            _box(axis, row[1], row[2], "lime", "true")
    for row in found.slots[0]:
        if row[0] > 0.5:
            _box(axis, row[1], row[2], "red", "predicted")
    corners = np.array([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]], dtype=float)
    region = (theta @ corners.T).T * [half_x, half_y]
    axis.add_patch(Polygon(region, fill=False, linestyle="--", edgecolor="yellow", label="warp"))
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axis.legend(unique.values(), unique.keys(), loc="upper right", fontsize=8)
    axis.set_xlabel("x relative to the ego [m]")
    axis.set_ylabel("y [m]")
    axis.set_title(
        "Held-out frame: true (green) and perceived (red) vehicles; spatial transformer "
        f"theta = {np.array2string(theta, precision=3, suppress_small=True)}".replace("\n", " ")
    )
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _box(axis: Any, x_m: float, y_m: float, colour: str, label: str) -> None:
    axis.add_patch(
        Rectangle(
            (x_m - VEHICLE_LENGTH_M / 2, y_m - VEHICLE_WIDTH_M / 2),
            VEHICLE_LENGTH_M,
            VEHICLE_WIDTH_M,
            fill=False,
            edgecolor=colour,
            linewidth=1.5,
            label=label,
        )
    )
