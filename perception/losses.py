"""The multi-task loss of :class:`~perception.cnn.StnPerceptionNet`.

Vehicle slots form a set: each labelled vehicle is paired with one predicted slot by the Hungarian
algorithm (scipy's ``linear_sum_assignment``) on the L1 distance of positions minus the slot's
presence probability, as DETR does (Carion et al. 2020). Paired slots learn presence 1 and the
vehicle's kinematics (L1); the others learn presence 0. With one slot per cell almost every slot is
empty, so presence uses the focal loss (torchvision's ``sigmoid_focal_loss``; Lin et al. 2017),
summed and divided by the number of vehicles, as OneNet does. The occupancy grid adds a binary
cross-entropy and the ego's lane a cross-entropy, both over the samples whose road has lane labels
(a straight highway). Given each frame's zoom (:mod:`sims.render_variation`), the spatial
transformer's affine warp learns, by an L1 term, the warp that undoes it: a frame drawn at ``z``
times the pixels per metre shows a point at ``z`` times its unzoomed image coordinate, so the warp
that samples the unzoomed map from it is ``[[z, 0, 0], [0, z, 0]]`` (issue 31).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from perception.cnn import PerceptionOutput, scale_targets

KINEMATICS_WEIGHT = 5.0  # the L1 of kinematics against the presence BCE
OCCUPANCY_WEIGHT = 1.0
LANE_WEIGHT = 0.5
THETA_WEIGHT = 1.0  # the L1 of the spatial transformer's warp against the warp undoing the zoom


@dataclass(frozen=True)
class LossTerms:
    """The loss and its parts (floats, for logging)."""

    total: Tensor
    presence: float
    kinematics: float
    occupancy: float
    ego_lane: float
    theta: float


def match_slots(slots: Tensor, targets: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pair labelled vehicles with predicted slots, per sample.

    :param slots: ``(B, K, 7)`` network outputs.
    :param targets: ``(B, SLOTS, 7)`` scaled labels, presence in column 0.
    :return: for each sample, (slot indices, label indices).
    """
    with torch.no_grad():
        distance = torch.cdist(slots[..., 1:3].float(), targets[..., 1:3].float(), p=1)
        cost = (distance - torch.sigmoid(slots[..., 0:1].float())).cpu().numpy()
        present = (targets[..., 0] > 0.5).cpu().numpy()
    pairs = []
    for sample, mask in zip(cost, present, strict=True):
        labels = np.flatnonzero(mask)
        rows, columns = linear_sum_assignment(sample[:, labels])
        pairs.append((rows, labels[columns]))
    return pairs


def perception_loss(
    output: PerceptionOutput,
    vehicles: Tensor,
    occupancy: Tensor,
    ego_lane: Tensor,
    *,
    lane_labels: Tensor | None = None,
    zoom: Tensor | None = None,
    heading_weight: float = 1.0,
    turn_weight: float = 0.0,
) -> LossTerms:
    """The multi-task loss of a batch; see the module docstring.

    :param vehicles: ``(B, SLOTS, 7)`` labels in metres and m/s (:func:`sims.dataset.label`).
    :param occupancy: ``(B, LANE_ROWS, CELLS)`` 0/1 labels.
    :param ego_lane: ``(B,)`` lane indices.
    :param lane_labels: ``(B,)`` 1 where the occupancy and ego-lane labels mean something (all
        samples when None).
    :param zoom: ``(B,)`` each frame's zoom; None: no term on the spatial transformer.
    :param heading_weight: the weight of the heading's cos and sin in the kinematics L1, against
        1 for the positions and velocities. An L1 regresses to the median, and nine vehicles in
        ten drive straight: at 1 the network reads lane changers as driving straight (issue 31,
        docs/experiments/turned_vehicles.py).
    :param turn_weight: each paired vehicle's kinematics count ``1 + turn_weight |sin h|``
        times, ``h`` its heading relative to the ego's (a weighted mean over the pairs): a lane
        changer at 15 degrees counts 3.6 times at 10 (and an oncoming vehicle 10 degrees off
        straight as much as one at 10). 0: every vehicle alike. Lane changers are rare, and the
        network read their sideways speed at 0.6 of the truth (issue 31).
    """
    targets = scale_targets(vehicles)
    pairs = match_slots(output.slots, targets)
    batch_index = np.concatenate([np.full(len(rows), b) for b, (rows, _) in enumerate(pairs)])
    slot_index = np.concatenate([rows for rows, _ in pairs])
    label_index = np.concatenate([labels for _, labels in pairs])
    device = output.slots.device
    b = torch.as_tensor(batch_index, dtype=torch.long, device=device)
    s = torch.as_tensor(slot_index, dtype=torch.long, device=device)
    t = torch.as_tensor(label_index, dtype=torch.long, device=device)
    presence_target = torch.zeros_like(output.slots[..., 0])
    presence_target[b, s] = 1.0
    presence = sigmoid_focal_loss(output.slots[..., 0], presence_target, reduction="sum") / max(
        len(b), 1
    )
    if len(b):
        errors = (output.slots[b, s, 1:] - targets[b, t, 1:]).abs()
        weights = errors.new_tensor([1.0, 1.0, 1.0, 1.0, heading_weight, heading_weight])
        per_vehicle = (errors * weights).mean(dim=1)
        vehicle_weights = 1 + turn_weight * targets[b, t, 6].abs()
        # At both weights 1 and 0: F.l1_loss.
        kinematics = (per_vehicle * vehicle_weights).sum() / vehicle_weights.sum()
    else:
        kinematics = output.slots.sum() * 0.0
    grid, lane = _lane_terms(output, occupancy, ego_lane, lane_labels)
    theta = output.theta.sum() * 0.0
    if zoom is not None:
        target = torch.zeros_like(output.theta)
        target[:, 0, 0] = target[:, 1, 1] = zoom.to(target.dtype)
        theta = F.l1_loss(output.theta, target)
    total = (
        presence
        + KINEMATICS_WEIGHT * kinematics
        + OCCUPANCY_WEIGHT * grid
        + LANE_WEIGHT * lane
        + THETA_WEIGHT * theta
    )
    return LossTerms(
        total=total,
        presence=float(presence.detach()),
        kinematics=float(kinematics.detach()),
        occupancy=float(grid.detach()),
        ego_lane=float(lane.detach()),
        theta=float(theta.detach()),
    )


def _lane_terms(
    output: PerceptionOutput, occupancy: Tensor, ego_lane: Tensor, lane_labels: Tensor | None
) -> tuple[Tensor, Tensor]:
    """The occupancy BCE and the ego-lane cross-entropy over the samples with lane labels."""
    if lane_labels is None:
        lane_labels = torch.ones_like(ego_lane)
    chosen = lane_labels > 0
    if not bool(chosen.any()):
        zero = output.occupancy.sum() * 0.0
        return zero, zero
    grid = F.binary_cross_entropy_with_logits(output.occupancy[chosen], occupancy[chosen].float())
    lane = F.cross_entropy(output.ego_lane[chosen], ego_lane[chosen].long())
    return grid, lane


def batch_loss(
    output: PerceptionOutput,
    batch: dict[str, Tensor],
    *,
    heading_weight: float = 1.0,
    turn_weight: float = 0.0,
) -> LossTerms:
    """:func:`perception_loss` with the labels of a loaded batch (:func:`perception.train.load_frames`
    keys: ``vehicles``, ``occupancy``, ``ego_lane``, and ``lane_labels`` and ``zoom`` when there)."""
    return perception_loss(
        output,
        batch["vehicles"],
        batch["occupancy"],
        batch["ego_lane"],
        lane_labels=batch.get("lane_labels"),
        zoom=batch.get("zoom"),
        heading_weight=heading_weight,
        turn_weight=turn_weight,
    )
