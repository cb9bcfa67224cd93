"""The multi-task loss of :class:`~perception.cnn.StnPerceptionNet`.

Vehicle slots form a set: each labelled vehicle is paired with one predicted slot by the Hungarian
algorithm (scipy's ``linear_sum_assignment``) on the L1 distance of positions minus the slot's
presence probability, as DETR does (Carion et al. 2020). Paired slots learn presence 1 and the
vehicle's kinematics (L1); the others learn presence 0. With one slot per cell almost every slot is
empty, so presence uses the focal loss (torchvision's ``sigmoid_focal_loss``; Lin et al. 2017),
summed and divided by the number of vehicles, as OneNet does. The occupancy grid adds a binary
cross-entropy and the ego's lane a cross-entropy.
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


@dataclass(frozen=True)
class LossTerms:
    """The loss and its parts (floats, for logging)."""

    total: Tensor
    presence: float
    kinematics: float
    occupancy: float
    ego_lane: float


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
    output: PerceptionOutput, vehicles: Tensor, occupancy: Tensor, ego_lane: Tensor
) -> LossTerms:
    """The multi-task loss of a batch; see the module docstring.

    :param vehicles: ``(B, SLOTS, 7)`` labels in metres and m/s (:func:`sims.dataset.label`).
    :param occupancy: ``(B, LANE_ROWS, CELLS)`` 0/1 labels.
    :param ego_lane: ``(B,)`` lane indices.
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
        kinematics = F.l1_loss(output.slots[b, s, 1:], targets[b, t, 1:])
    else:
        kinematics = output.slots.sum() * 0.0
    grid = F.binary_cross_entropy_with_logits(output.occupancy, occupancy.float())
    lane = F.cross_entropy(output.ego_lane, ego_lane.long())
    total = presence + KINEMATICS_WEIGHT * kinematics + OCCUPANCY_WEIGHT * grid + LANE_WEIGHT * lane
    return LossTerms(
        total=total,
        presence=float(presence.detach()),
        kinematics=float(kinematics.detach()),
        occupancy=float(grid.detach()),
        ego_lane=float(lane.detach()),
    )
