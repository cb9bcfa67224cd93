"""Detection-style figures of the perception network on labelled frames.

A predicted vehicle is a slot with presence probability above :data:`PRESENCE_THRESHOLD`. Predicted
and labelled vehicles of a frame are paired by the Hungarian algorithm on centre distance; a pair
closer than :data:`MATCH_GATE_M` is a true positive, every other prediction a false positive and every
other label a false negative. Position and velocity errors are Euclidean, over the true positives
whose vehicle is within :data:`NEAR_M` of the ego.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from perception.cnn import StnPerceptionNet, unscale_slots
from perception.losses import perception_loss

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


def figures(
    slots: np.ndarray,
    occupancy: np.ndarray,
    lanes: np.ndarray,
    labels: dict[str, np.ndarray],
) -> PerceptionFigures:
    """Compare predictions with ``labels`` (the dataset's ``vehicles``, ``occupancy``, ``ego_lane``)."""
    true_positives = false_positives = false_negatives = 0
    position_errors: list[float] = []
    velocity_errors: list[float] = []
    for predicted, truth in zip(slots, labels["vehicles"], strict=True):
        predicted = predicted[predicted[:, 0] > PRESENCE_THRESHOLD]
        truth = truth[truth[:, 0] > 0.5]
        distance = np.linalg.norm(predicted[:, None, 1:3] - truth[None, :, 1:3], axis=-1)
        rows, columns = linear_sum_assignment(distance) if distance.size else ([], [])
        matched = [
            (r, c) for r, c in zip(rows, columns, strict=True) if distance[r, c] < MATCH_GATE_M
        ]
        true_positives += len(matched)
        false_positives += len(predicted) - len(matched)
        false_negatives += len(truth) - len(matched)
        for r, c in matched:
            if np.linalg.norm(truth[c, 1:3]) <= NEAR_M:
                position_errors.append(float(distance[r, c]))
                velocity_errors.append(float(np.linalg.norm(predicted[r, 3:5] - truth[c, 3:5])))
    precision = true_positives / max(true_positives + false_positives, 1)
    recall = true_positives / max(true_positives + false_negatives, 1)
    occupied, truth_grid = occupancy > 0.5, labels["occupancy"] > 0.5
    union = np.logical_or(occupied, truth_grid).sum()
    return PerceptionFigures(
        position_mae_m=float(np.mean(position_errors)) if position_errors else float("nan"),
        velocity_mae_mps=float(np.mean(velocity_errors)) if velocity_errors else float("nan"),
        presence_precision=precision,
        presence_recall=recall,
        presence_f1=2 * precision * recall / max(precision + recall, 1e-12),
        occupancy_iou=float(np.logical_and(occupied, truth_grid).sum() / max(union, 1)),
        ego_lane_accuracy=float(np.mean(lanes == labels["ego_lane"])),
        frames=len(slots),
    )


@torch.no_grad()
def evaluate(
    model: StnPerceptionNet,
    data: dict[str, np.ndarray],
    *,
    batch_size: int = 256,
    device: str = "cpu",
) -> tuple[PerceptionFigures, float]:
    """:func:`figures` of ``model`` on a loaded dataset (:func:`sims.dataset.load_shards`), and
    its mean loss there, from one pass over the frames."""
    model.eval()
    slots, occupancy, lanes = [], [], []
    total = 0.0
    for start in range(0, len(data["images"]), batch_size):
        batch = {
            key: torch.as_tensor(value[start : start + batch_size]).to(device)
            for key, value in data.items()
        }
        output = model(batch["images"])
        terms = perception_loss(output, batch["vehicles"], batch["occupancy"], batch["ego_lane"])
        total += float(terms.total) * len(batch["images"])
        slots.append(unscale_slots(output.slots).float().cpu().numpy())
        occupancy.append(torch.sigmoid(output.occupancy).float().cpu().numpy())
        lanes.append(output.ego_lane.argmax(-1).cpu().numpy())
    found = figures(np.concatenate(slots), np.concatenate(occupancy), np.concatenate(lanes), data)
    return found, total / max(len(data["images"]), 1)
