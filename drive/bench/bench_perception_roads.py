"""``drive bench perception --roads``: the perception network on the held-out frames of every road,
clean and under each render variation, in one table (issue 31).

Rows are the roads (one dataset folder each, as ``docs/experiments/perception_roads_data.sh``
writes them) and, last, all roads pooled; columns are the variations: the clean frames (with their
position error), brightness 0.5 and 1.5, zooms of 0.9 and 1.1, pixel noise, blur, vehicles in
colours no training frame shows (their own held-out frames, drawn with ``unseen-colours``), and
PGD at 4/255 on the first :data:`PGD_FRAMES` frames of each road. Under a zoom, labels that the
zoomed frame no longer shows are dropped. Beside the table, the tracker's cost per control step
(:func:`tracker_cost`), against the network's own per-frame time in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.table import Table

from perception.camera import load_network
from perception.cnn import StnPerceptionNet
from perception.evaluate import Perturbation, Predictions, figures, predict
from perception.robustness import blur, brightness, noise, pgd, scale
from perception.tracker import Detection, MultiObjectTracker
from perception.train import check_window, load_frames
from sims.machine import machine_description
from sims.provenance import package_versions, provenance

PGD_FRAMES = 64  # frames per road under PGD (ten gradient steps a frame)
PGD_EPSILON = 4.0  # [1/255]
UNSEEN_COLOURS = "unseen-colours"
TARGETS = {"position_mae_m": 0.3, "presence_f1": 0.98, "varied_f1": 0.95}  # issue 31, done-when 2


def variations() -> dict[str, tuple[float, Perturbation]]:
    """The pixel-space variations of the table: name to (zoom, perturbation)."""
    return {
        "brightness 0.5": (1.0, brightness(0.5)),
        "brightness 1.5": (1.0, brightness(1.5)),
        "zoom 0.9": (0.9, scale(0.9)),
        "zoom 1.1": (1.1, scale(1.1)),
        "noise 8/255": (1.0, noise(8 / 255)),
        "blur 1 px": (1.0, blur(1.0)),
    }


def visible(data: dict[str, np.ndarray], zoom: float, half_m: tuple[float, float]) -> dict:
    """``data`` with the labelled vehicles outside a frame zoomed by ``zoom`` marked absent.

    :param half_m: the window's half length and half width [m].
    """
    if zoom <= 1.0:
        return data
    vehicles = data["vehicles"].copy()
    outside = (np.abs(vehicles[..., 1]) > half_m[0] / zoom) | (
        np.abs(vehicles[..., 2]) > half_m[1] / zoom
    )
    vehicles[outside] = 0.0
    return {**data, "vehicles": vehicles}


def _figures(found: Predictions, data: dict[str, np.ndarray]) -> dict[str, float]:
    return asdict(figures(found.slots, found.occupancy, found.lanes, data))


def pooled_figures(parts: list[tuple[Predictions, dict[str, np.ndarray]]]) -> dict[str, float]:
    """The figures over every road's frames together."""
    keys = ("vehicles", "occupancy", "ego_lane", "lane_labels")
    data = {key: np.concatenate([labels[key] for _, labels in parts]) for key in keys}
    found = Predictions(
        slots=np.concatenate([p.slots for p, _ in parts]),
        occupancy=np.concatenate([p.occupancy for p, _ in parts]),
        lanes=np.concatenate([p.lanes for p, _ in parts]),
        loss=float("nan"),
    )
    return _figures(found, data)


def run_roads_bench(
    weights: Path,
    roads: Path,
    *,
    unseen_colours: Path | None,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the network in ``weights`` on every road folder under ``roads``.

    :param unseen_colours: a folder with the same roads drawn in held-out vehicle colours.
    :return: the JSON document: per road and pooled, the figures of each column.
    """
    network, _ = load_network(weights)
    frames = network.frames
    half_m = (frames.half_length_m, frames.half_width_m)
    folders = sorted(path for path in roads.iterdir() if (path / "manifest.json").exists())
    for folder in folders:  # all refused before any is measured
        check_window(folder, frames)
        if unseen_colours is not None and (unseen_colours / folder.name / "manifest.json").exists():
            check_window(unseen_colours / folder.name, frames)
    columns: dict[str, list] = {}
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for folder in folders:
        if on_stage is not None:
            on_stage(folder.name)
        data = load_frames(folder)
        row: dict[str, dict[str, float]] = {}
        measured = {"clean": (data, predict(network, data))}
        for name, (zoom, perturb) in variations().items():
            labels = visible(data, zoom, half_m)
            measured[name] = (labels, predict(network, labels, batch_size=64, perturb=perturb))
        unseen = None if unseen_colours is None else unseen_colours / folder.name
        if unseen is not None and (unseen / "manifest.json").exists():
            held = load_frames(unseen)
            measured[UNSEEN_COLOURS] = (held, predict(network, held))
        head = {key: value[:PGD_FRAMES] for key, value in data.items()}
        attack = pgd(network, PGD_EPSILON / 255)
        measured[f"pgd {PGD_EPSILON:g}/255"] = (head, predict(network, head, perturb=attack))
        for name, (labels, found) in measured.items():
            row[name] = _figures(found, labels)
            columns.setdefault(name, []).append((found, labels))
        rows[folder.name] = row
    rows["all roads"] = {name: pooled_figures(parts) for name, parts in columns.items()}
    return {
        "machine": machine_description(),
        "versions": package_versions(),
        "weights": str(weights),
        "provenance": provenance([weights / "best.safetensors", weights / "card.json"]),
        "data": {"roads": str(roads), "unseen_colours": str(unseen_colours)},
        "targets": TARGETS,
        "roads": rows,
        "tracker": tracker_cost(network),
    }


def tracker_cost(
    network: StnPerceptionNet, *, vehicles: int = 10, steps: int = 600, seed: int = 0
) -> dict[str, float]:
    """The tracker's time per control step, ``vehicles`` detected road users a step, against the
    network's time for one frame stack (batch 1) measured in the same run [ms].

    :param vehicles: detections a step (10: the dataset's most labelled vehicles a frame).
    :param steps: control steps (600: one 40 s highway-v0 episode at 15 Hz).
    """
    rng = np.random.default_rng(seed)
    start_m = rng.uniform(-60, 60, size=vehicles)
    lane_m = rng.integers(0, 4, size=vehicles) * 4.0
    speed_mps = rng.uniform(18, 30, size=vehicles)
    sequence = [
        tuple(
            Detection(
                x_m=float(start_m[k] + speed_mps[k] * step / 15 + rng.normal(0, 0.2)),
                y_m=float(lane_m[k] + rng.normal(0, 0.1)),
                vx_mps=float(speed_mps[k] + rng.normal(0, 0.7)),
                vy_mps=float(rng.normal(0, 0.7)),
                heading_rad=0.0,
            )
            for k in rng.permutation(vehicles)
        )
        for step in range(steps)
    ]
    tracker = MultiObjectTracker()
    started = time.perf_counter()
    for step, detections in enumerate(sequence):
        tracker.update(detections, time_s=step / 15)
    tracker_ms = (time.perf_counter() - started) / steps * 1e3
    spec = network.frames
    stack = torch.zeros(1, spec.height_px, spec.width_px, 3 * spec.stack, dtype=torch.uint8)
    times = []
    with torch.inference_mode():
        network(stack)
        for _ in range(50):
            started = time.perf_counter()
            network(stack)
            times.append(time.perf_counter() - started)
    network_ms = float(np.median(times)) * 1e3
    return {
        "vehicles": vehicles,
        "steps": steps,
        "tracker_ms_per_step": tracker_ms,
        "network_ms_per_frame_b1": network_ms,
        "tracker_over_network": tracker_ms / network_ms,
    }


def roads_table(document: dict[str, Any]) -> Table:
    """Presence F1 per road (rows) and variation (columns), the clean position error first."""
    rows = document["roads"]
    names = list(rows["all roads"])
    table = Table(
        title=f"Perception per road and render variation ({document['weights']}): presence F1",
        title_justify="left",
    )
    table.add_column("road")
    table.add_column("frames", justify="right")
    table.add_column("position (m)", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for road, row in rows.items():
        if road == "all roads":
            table.add_section()
        clean = row["clean"]
        table.add_row(
            road,
            str(clean["frames"]),
            _cell(clean["position_mae_m"]),
            *(_cell(row[name]["presence_f1"]) if name in row else "-" for name in names),
        )
    cost = document["tracker"]
    table.caption = (
        f"Tracker: {cost['tracker_ms_per_step']:.3f} ms per step with {cost['vehicles']} "
        f"detections ({cost['tracker_over_network']:.2f} of the network's "
        f"{cost['network_ms_per_frame_b1']:.2f} ms per frame)."
    )
    return table


def _cell(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
