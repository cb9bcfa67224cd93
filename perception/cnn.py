"""A CNN with a spatial transformer that reads a stack of bird's-eye frames (:mod:`sims.dataset`).

The spatial transformer (Jaderberg et al. 2015, "Spatial Transformer Networks") is a localisation
network that predicts an affine warp of the input; its last layer starts at zero weights and the
identity's bias, so training starts from the unwarped frames. The warped stack goes through a small
strided CNN; three heads read its features:

* ``slots`` ``(SLOTS, 7)``: presence logit, dx, dy [scaled], dvx, dvy [scaled], cos and sin of the
  relative heading of up to ``SLOTS`` vehicles, in no particular order (a set-matching loss pairs
  them with the labels, see :mod:`perception.losses`);
* ``occupancy`` ``(LANE_ROWS, CELLS)``: logits of the lane occupancy grid;
* ``ego_lane`` ``(LANES,)``: logits of the ego's lane index.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sims.dataset import LANE_ROWS, SLOTS, FrameSpec

LANES = 4  # highway-v0's lanes: the ego-lane head's classes
POSITION_SCALE_M = (64.0, 16.0)  # [m] dx and dy are predicted divided by these
VELOCITY_SCALE_MPS = 10.0  # [m/s] dvx and dvy are predicted divided by this


@dataclass(frozen=True)
class PerceptionOutput:
    """The network's raw outputs for a batch."""

    slots: Tensor  # (B, SLOTS, 7)
    occupancy: Tensor  # (B, LANE_ROWS, CELLS) logits
    ego_lane: Tensor  # (B, LANES) logits
    theta: Tensor  # (B, 2, 3) the spatial transformer's affine warp


def _conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=2, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class SpatialTransformer(nn.Module):
    """Predicts an affine warp from a downsampled input and applies it (identity at start)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.localisation = nn.Sequential(
            nn.AvgPool2d(4),
            _conv(channels, 16),
            _conv(16, 32),
            nn.AdaptiveAvgPool2d((2, 4)),
            nn.Flatten(),
            nn.Linear(32 * 8, 32),
            nn.ReLU(inplace=True),
        )
        self.affine = nn.Linear(32, 6)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        theta = self.affine(self.localisation(images)).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, align_corners=False), theta


class StnPerceptionNet(nn.Module):
    """Spatial transformer, CNN backbone and three heads; see the module docstring.

    :param frames: the dataset's frame spec (window size and stack length).
    :param width: channels of the first convolution (doubled twice deeper).
    """

    def __init__(self, frames: FrameSpec, width: int = 32) -> None:
        super().__init__()
        channels = 3 * frames.stack
        self.frames = frames
        self.transformer = SpatialTransformer(channels)
        self.backbone = nn.Sequential(
            _conv(channels, width),
            _conv(width, 2 * width),
            _conv(2 * width, 2 * width),
            _conv(2 * width, 4 * width),
        )
        pooled = (4, 16)
        self.pool = nn.AdaptiveAvgPool2d(pooled)
        features = 4 * width * pooled[0] * pooled[1]
        self.trunk = nn.Sequential(nn.Flatten(), nn.Linear(features, 512), nn.ReLU(inplace=True))
        self.slots = nn.Linear(512, SLOTS * 7)
        self.occupancy = nn.Linear(512, LANE_ROWS * frames.cells)
        self.ego_lane = nn.Linear(512, LANES)

    def forward(self, images: Tensor) -> PerceptionOutput:
        """:param images: ``(B, stack, H, W, 3)`` uint8 frames, as the dataset stores them."""
        batch = images.shape[0]
        x = images.permute(0, 1, 4, 2, 3).reshape(batch, -1, *images.shape[2:4]).float() / 255
        warped, theta = self.transformer(x)
        hidden = self.trunk(self.pool(self.backbone(warped)))
        return PerceptionOutput(
            slots=self.slots(hidden).view(batch, SLOTS, 7),
            occupancy=self.occupancy(hidden).view(batch, LANE_ROWS, self.frames.cells),
            ego_lane=self.ego_lane(hidden),
            theta=theta,
        )


def scale_targets(vehicles: Tensor) -> Tensor:
    """Dataset vehicle rows ``(..., 7)`` in metres and m/s to the network's scaled units."""
    scale = vehicles.new_tensor(
        [1.0, *POSITION_SCALE_M, VELOCITY_SCALE_MPS, VELOCITY_SCALE_MPS, 1.0, 1.0]
    )
    return vehicles / scale


def unscale_slots(slots: Tensor) -> Tensor:
    """Network slots ``(..., 7)`` to presence probability, metres and m/s."""
    scale = slots.new_tensor(
        [1.0, *POSITION_SCALE_M, VELOCITY_SCALE_MPS, VELOCITY_SCALE_MPS, 1.0, 1.0]
    )
    values = slots * scale
    return torch.cat([torch.sigmoid(slots[..., :1]), values[..., 1:]], dim=-1)
