"""Detection-style figures of the perception network on labelled frames.

A predicted vehicle is a slot with presence probability above :data:`PRESENCE_THRESHOLD`. Predicted
and labelled vehicles of a frame are paired by the Hungarian algorithm on centre distance; a pair
closer than :data:`MATCH_GATE_M` is a true positive, every other prediction a false positive and every
other label a false negative. Position and velocity errors are Euclidean, over the true positives
whose vehicle is within :data:`NEAR_M` of the ego.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from perception.cnn import StnPerceptionNet, unscale_slots
from perception.losses import batch_loss

PRESENCE_THRESHOLD = 0.5
MATCH_GATE_M = 3.0  # [m] a prediction farther than this from every label is a false positive
NEAR_M = 50.0  # [m] position and velocity errors are reported for vehicles this close


@dataclass(frozen=True)
class PerceptionFigures:
    """Figures over a set of frames."""

    position_mae_m: float
    velocity_mae_mps: float
    presence_precision: float
    presence_recall: float
    presence_f1: float
    occupancy_iou: float
    ego_lane_accuracy: float
    frames: int


BANDS_M = (0.0, 10.0, 20.0, 35.0, 50.0, 80.0)  # [m] edges of the distance bands of :func:`bands`


@dataclass(frozen=True)
class Pairs:
    """Predicted and labelled vehicles of a set of frames, paired (see the module docstring).

    Per labelled vehicle (``distance_m`` from the ego, ``found``) and per true positive (its
    label's distance, ``position_error_m``, ``velocity_error_mps``).
    """

    label_distance_m: np.ndarray
    label_found: np.ndarray
    match_distance_m: np.ndarray
    position_error_m: np.ndarray
    velocity_error_mps: np.ndarray
    false_positives: int


@dataclass(frozen=True)
class FrameMatch:
    """One frame's present slots and labelled vehicles, paired (see the module docstring)."""

    predicted: np.ndarray  # (P, 7) the slots present
    truth: np.ndarray  # (T, 7) the labelled vehicles
    pairs: list[tuple[int, int]]  # (slot row, label row), closer than MATCH_GATE_M
    distance_m: np.ndarray  # (P, T) centre distances [m]


def match_frame(slots: np.ndarray, vehicles: np.ndarray) -> FrameMatch:
    """Pair one frame's predicted slots (presence probability, metres, m/s) with its labels."""
    predicted = slots[slots[:, 0] > PRESENCE_THRESHOLD]
    truth = vehicles[vehicles[:, 0] > 0.5]
    distance = np.linalg.norm(predicted[:, None, 1:3] - truth[None, :, 1:3], axis=-1)
    rows, columns = linear_sum_assignment(distance) if distance.size else ([], [])
    pairs = [
        (int(r), int(c))
        for r, c in zip(rows, columns, strict=True)
        if distance[r, c] < MATCH_GATE_M
    ]
    return FrameMatch(predicted=predicted, truth=truth, pairs=pairs, distance_m=distance)


def pair(slots: np.ndarray, vehicles: np.ndarray) -> Pairs:
    """Pair predicted slots (presence probability, metres, m/s) with labelled vehicles per frame."""
    label_distance: list[float] = []
    label_found: list[bool] = []
    match_distance: list[float] = []
    position: list[float] = []
    velocity: list[float] = []
    false_positives = 0
    for frame_slots, frame_vehicles in zip(slots, vehicles, strict=True):
        match = match_frame(frame_slots, frame_vehicles)
        predicted, truth = match.predicted, match.truth
        false_positives += len(predicted) - len(match.pairs)
        found = np.zeros(len(truth), dtype=bool)
        for r, c in match.pairs:
            found[c] = True
            match_distance.append(float(np.linalg.norm(truth[c, 1:3])))
            position.append(float(match.distance_m[r, c]))
            velocity.append(float(np.linalg.norm(predicted[r, 3:5] - truth[c, 3:5])))
        label_distance.extend(np.linalg.norm(truth[:, 1:3], axis=-1))
        label_found.extend(found)
    return Pairs(
        label_distance_m=np.asarray(label_distance, dtype=float),
        label_found=np.asarray(label_found, dtype=bool),
        match_distance_m=np.asarray(match_distance, dtype=float),
        position_error_m=np.asarray(position, dtype=float),
        velocity_error_mps=np.asarray(velocity, dtype=float),
        false_positives=false_positives,
    )


def figures(
    slots: np.ndarray,
    occupancy: np.ndarray,
    lanes: np.ndarray,
    labels: dict[str, np.ndarray],
) -> PerceptionFigures:
    """Compare predictions with ``labels`` (the dataset's ``vehicles``, ``occupancy``, ``ego_lane``)."""
    pairs = pair(slots, labels["vehicles"])
    true_positives = int(pairs.label_found.sum())
    false_negatives = len(pairs.label_found) - true_positives
    near = pairs.match_distance_m <= NEAR_M
    precision = true_positives / max(true_positives + pairs.false_positives, 1)
    recall = true_positives / max(true_positives + false_negatives, 1)
    # The lane figures over the frames of straight highways (sims.dataset's ``lane_labels``).
    laned = labels["lane_labels"] > 0 if "lane_labels" in labels else np.ones(len(lanes), bool)
    occupied, truth_grid = occupancy[laned] > 0.5, labels["occupancy"][laned] > 0.5
    union = np.logical_or(occupied, truth_grid).sum()
    return PerceptionFigures(
        position_mae_m=_mean(pairs.position_error_m[near]),
        velocity_mae_mps=_mean(pairs.velocity_error_mps[near]),
        presence_precision=precision,
        presence_recall=recall,
        presence_f1=2 * precision * recall / max(precision + recall, 1e-12),
        occupancy_iou=float(np.logical_and(occupied, truth_grid).sum() / max(union, 1))
        if laned.any()
        else float("nan"),
        ego_lane_accuracy=_mean((lanes == labels["ego_lane"])[laned].astype(float)),
        frames=len(slots),
    )


def bands(slots: np.ndarray, vehicles: np.ndarray) -> list[dict[str, float]]:
    """Recall and position and velocity errors by the labelled vehicle's distance (:data:`BANDS_M`)."""
    pairs = pair(slots, vehicles)
    rows = []
    for low, high in zip(BANDS_M[:-1], BANDS_M[1:], strict=True):
        labelled = (pairs.label_distance_m >= low) & (pairs.label_distance_m < high)
        matched = (pairs.match_distance_m >= low) & (pairs.match_distance_m < high)
        rows.append(
            {
                "from_m": low,
                "to_m": high,
                "vehicles": int(labelled.sum()),
                "recall": _mean(pairs.label_found[labelled].astype(float)),
                "position_mae_m": _mean(pairs.position_error_m[matched]),
                "velocity_mae_mps": _mean(pairs.velocity_error_mps[matched]),
            }
        )
    return rows


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


@dataclass(frozen=True)
class Predictions:
    """The network's outputs over a dataset, in metres and probabilities."""

    slots: np.ndarray  # (N, K, 7) presence probability, metres, m/s
    occupancy: np.ndarray  # (N, LANE_ROWS, CELLS) probabilities
    lanes: np.ndarray  # (N,) lane indices
    loss: float  # mean loss


Perturbation = Callable[[Tensor, dict[str, Tensor]], Tensor]


def predict(
    model: StnPerceptionNet,
    data: dict[str, np.ndarray],
    *,
    batch_size: int = 256,
    device: str = "cpu",
    perturb: Perturbation | None = None,
) -> Predictions:
    """Run ``model`` over a loaded dataset (:func:`perception.train.load_frames`).

    :param perturb: if given, maps each batch's pixels ``(B, C, H, W)`` in [0, 1] and its labels
        to the pixels the network reads (for the robustness report).
    """
    model.eval()
    slots, occupancy, lanes = [], [], []
    total = 0.0
    for start in range(0, len(data["images"]), batch_size):
        batch = {
            key: torch.as_tensor(value[start : start + batch_size]).to(device)
            for key, value in data.items()
        }
        pixels = batch["images"].permute(0, 3, 1, 2).float() / 255
        if perturb is not None:
            pixels = perturb(pixels, batch)
        with torch.no_grad():
            output = model.forward_pixels(pixels)
            terms = batch_loss(output, batch)
        total += float(terms.total) * len(pixels)
        slots.append(unscale_slots(output.slots).float().cpu().numpy())
        occupancy.append(torch.sigmoid(output.occupancy).float().cpu().numpy())
        lanes.append(output.ego_lane.argmax(-1).cpu().numpy())
    return Predictions(
        slots=np.concatenate(slots),
        occupancy=np.concatenate(occupancy),
        lanes=np.concatenate(lanes),
        loss=total / max(len(data["images"]), 1),
    )


def evaluate(
    model: StnPerceptionNet,
    data: dict[str, np.ndarray],
    *,
    batch_size: int = 256,
    device: str = "cpu",
    perturb: Perturbation | None = None,
) -> tuple[PerceptionFigures, float]:
    """:func:`figures` of ``model`` on a loaded dataset, and its mean loss there, from one pass
    (:func:`predict`)."""
    found = predict(model, data, batch_size=batch_size, device=device, perturb=perturb)
    return figures(found.slots, found.occupancy, found.lanes, data), found.loss
