"""A CNN with a spatial transformer that reads a stack of bird's-eye frames (:mod:`sims.dataset`).

The frames of a stack are concatenated along the channels. Two strided convolutions bring them to a
quarter of the resolution; there a spatial transformer (Jaderberg et al. 2015, "Spatial
Transformer Networks", which may sit at any depth of a CNN) warps the feature map by an affine
transform predicted from the map itself. Its last layer starts at zero weights and the identity's
bias, so training starts from the unwarped frames. Two more convolutions reach one feature vector
per :data:`CELL_PX`-pixel cell of the warped frame, and the heads read them:

* ``slots`` ``(B, K, 7)``, one slot per cell (``K`` cells): presence logit, dx, dy [scaled], dvx,
  dvy [scaled], cos and sin of the relative heading. A slot's position is its cell's centre plus a
  predicted offset, so slots are dense candidates in a fixed order; a one-to-one set-matching loss
  (:mod:`perception.losses`) teaches one slot per vehicle to fire, which needs no
  non-maximum suppression afterwards (Sun et al. 2021, "OneNet: Towards End-to-End One-Stage Object
  Detection");
* ``occupancy`` ``(B, LANE_ROWS, CELLS)``: logits of the lane occupancy grid, per cell and pooled
  to the grid's shape;
* ``ego_lane`` ``(B, LANES)``: logits of the ego's lane index, from the pooled feature map.

Positions are in the ego's frame: the frames are rendered centred on the ego, with x to the right
and y downwards, at ``scaling_px_per_m``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from perception.zoom import read_zoom, undo_zoom
from sims.dataset import LANE_ROWS, FrameSpec

LANES = 4  # highway-v0's lanes: the ego-lane head's classes
CELL_PX = 8  # [px] the slot grid's cell: the backbone's total stride
POSITION_SCALE_M = (64.0, 16.0)  # [m] dx and dy are predicted divided by these
VELOCITY_SCALE_MPS = 10.0  # [m/s] dvx and dvy are predicted divided by this
PRESENCE_PRIOR = 0.01  # a slot's presence probability before training: almost every cell is empty
CHANNEL_MEAN_FLOOR = 0.05  # [of 1] a channel darker than this on average is divided by this instead
INFERENCE_BLOCK_FRAMES = 16
"""Frame stacks an inference copy (:meth:`StnPerceptionNet.for_inference`) reads at once on the CPU.

A batch of 256 stacks 320 px long is 190 MB of float pixels. glibc serves an allocation that large
with fresh pages from the kernel each time (above its mmap threshold, at most 32 MB), and touching
them cost as long as the network's arithmetic on this 2-core VM: 0.21 million page faults a batch.
Blocks of 16 keep every intermediate tensor under 12 MB, which the allocator reuses; the outputs are
the same to float rounding (issue 31: frames/s at batch 256 went from 374-383 to 911-931, measured
side by side by ``docs/experiments/perception_speed_before_after.sh``)."""


@dataclass(frozen=True)
class PerceptionOutput:
    """The network's raw outputs for a batch."""

    slots: Tensor  # (B, K, 7)
    occupancy: Tensor  # (B, LANE_ROWS, CELLS) logits
    ego_lane: Tensor  # (B, LANES) logits
    theta: Tensor  # (B, 2, 3) the spatial transformer's affine warp


def _conv(inputs: int, outputs: int, stride: int = 2) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class SpatialTransformer(nn.Module):
    """Predicts an affine warp of a feature map from the map itself and applies it (identity at start).

    :param channels: the feature map's channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        pooled = (4, 16)
        self.localisation = nn.Sequential(
            nn.AdaptiveAvgPool2d(pooled),
            nn.Flatten(),
            nn.Linear(channels * pooled[0] * pooled[1], 32),
            nn.ReLU(inplace=True),
        )
        self.affine = nn.Linear(32, 6)
        nn.init.zeros_(self.affine.weight)
        with torch.no_grad():
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        theta = self.affine(self.localisation(features)).view(-1, 2, 3)
        return self.warp(features, theta), theta

    @staticmethod
    def warp(features: Tensor, theta: Tensor) -> Tensor:
        """``features`` sampled through the affine warps ``theta`` ``(B, 2, 3)``, zeros outside."""
        grid = F.affine_grid(theta, list(features.shape), align_corners=False)
        return F.grid_sample(features, grid, align_corners=False)


class StnPerceptionNet(nn.Module):
    """Convolutions, spatial transformer, dense slots and two global heads; see the module docstring.

    :param frames: the dataset's frame spec (window size and stack length); the window's sides must
        be multiples of :data:`CELL_PX`.
    :param width: channels of the first convolution (doubled twice deeper).
    :param pixels: how the frames' pixels are read (a key of :data:`PIXEL_READINGS`).
    """

    cell_centres: Tensor  # (K, 2) [m], a buffer
    block_frames: int | None = None  # set by :meth:`for_inference`: see INFERENCE_BLOCK_FRAMES
    # Set by :meth:`for_inference`: frames are read at zoom 1 (:mod:`perception.zoom`). Training
    # sees frames as drawn, its transformer learning any zoom (``--augment-zoom``).
    reads_zoom: bool = False

    def __init__(self, frames: FrameSpec, width: int = 16, *, pixels: str = "rgb") -> None:
        super().__init__()
        if frames.width_px % CELL_PX or frames.height_px % CELL_PX:
            raise ValueError(
                f"frames of {frames.width_px}x{frames.height_px} px: both sides must be "
                f"multiples of {CELL_PX}"
            )
        self.frames = frames
        if pixels not in PIXEL_READINGS:
            raise ValueError(f"unknown pixels {pixels!r}; valid: {', '.join(PIXEL_READINGS)}")
        self.pixels = pixels
        channels, self.read_pixels = PIXEL_READINGS[pixels]
        self.stem = nn.Sequential(_conv(channels * frames.stack, width), _conv(width, 2 * width))
        self.transformer = SpatialTransformer(2 * width)
        self.backbone = nn.Sequential(
            _conv(2 * width, 4 * width), _conv(4 * width, 4 * width, stride=1)
        )
        self.slot_head = nn.Conv2d(4 * width, 7, 1)
        bias = self.slot_head.bias
        assert bias is not None
        with torch.no_grad():  # every slot starts at a 1% presence (Lin et al. 2017's prior)
            bias[0] = -math.log((1 - PRESENCE_PRIOR) / PRESENCE_PRIOR)
        pooled = (2, 8)
        self.trunk = nn.Sequential(
            nn.AdaptiveAvgPool2d(pooled),
            nn.Flatten(),
            nn.Linear(4 * width * pooled[0] * pooled[1], 128),
            nn.ReLU(inplace=True),
        )
        # Occupancy logits per feature cell, pooled to the grid's lanes and 8 m cells.
        self.occupancy = nn.Conv2d(4 * width, 1, 1)
        self.ego_lane = nn.Linear(128, LANES)
        self.register_buffer("cell_centres", _cell_centres(frames), persistent=False)

    def forward(self, images: Tensor) -> PerceptionOutput:
        """:param images: ``(B, H, W, 3 * stack)`` uint8 frame stacks (:func:`stack_channels`)."""
        # Blocks are for the CPU's allocator (INFERENCE_BLOCK_FRAMES); a GPU wants whole batches.
        on_cpu = images.device.type == "cpu"
        if self.block_frames is None or not on_cpu or len(images) <= self.block_frames:
            return self._forward_images(images)
        blocks = [self._forward_images(block) for block in images.split(self.block_frames)]
        return PerceptionOutput(
            **{f.name: torch.cat([getattr(b, f.name) for b in blocks]) for f in fields(blocks[0])}
        )

    def _forward_images(self, images: Tensor) -> PerceptionOutput:
        batch, height, width, channels = images.shape
        # One pass transposes to channels-first and converts: the readings want each channel's
        # plane contiguous.
        pixels = images.new_empty((batch, channels, height, width), dtype=torch.float32)
        return self.forward_pixels(pixels.copy_(images.permute(0, 3, 1, 2)).mul_(1 / 255))

    def forward_pixels(self, x: Tensor) -> PerceptionOutput:
        """:param x: ``(B, 3 * stack, H, W)`` float pixels in [0, 1] (what attacks perturb)."""
        batch = x.shape[0]
        if self.reads_zoom:
            x = undo_zoom(x, read_zoom(x, px_per_m=self.frames.scaling_px_per_m))
        features, theta = self.feature_map(x)
        raw = self.slot_head(features).flatten(2).transpose(1, 2)  # (B, K, 7), row-major cells
        cell_m = CELL_PX / self.frames.scaling_px_per_m
        position = (self.cell_centres + raw[..., 1:3] * cell_m) / self.cell_centres.new_tensor(
            POSITION_SCALE_M
        )
        hidden = self.trunk(features)
        return PerceptionOutput(
            slots=torch.cat([raw[..., :1], position, raw[..., 3:]], dim=-1),
            occupancy=F.adaptive_avg_pool2d(
                self.occupancy(features), (LANE_ROWS, self.frames.cells)
            ).view(batch, LANE_ROWS, self.frames.cells),
            ego_lane=self.ego_lane(hidden),
            theta=theta,
        )

    def feature_map(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The backbone's feature map of the warped frames, and the warp.

        :param x: ``(B, 3 * stack, H, W)`` float pixels in [0, 1].
        :return: ``(B, 4 * width, H / 8, W / 8)`` features and the ``(B, 2, 3)`` warp.
        """
        warped, theta = self.transformer(self.stem(self.read_pixels(x)))
        return self.backbone(warped), theta

    def for_inference(self) -> StnPerceptionNet:
        """A copy in evaluation mode with each batch norm folded into its convolution, the weights
        in channels-last order (together about 1.3 times faster on the CPU), reading large batches
        on the CPU in blocks of :data:`INFERENCE_BLOCK_FRAMES`, and each frame at zoom 1
        (:mod:`perception.zoom`)."""
        fused = copy.deepcopy(self).eval()
        for block in (*fused.stem, *fused.backbone):
            block[0] = fuse_conv_bn_eval(block[0], block[1])
            block[1] = nn.Identity()
        fused.block_frames = INFERENCE_BLOCK_FRAMES
        fused.reads_zoom = True
        return fused.to(memory_format=torch.channels_last)


def relative_to_frame(x: Tensor) -> Tensor:
    """Each channel of each frame relative to its own mean over the frame: ``(x - m) / m``.

    A brightness factor or a gain on one colour channel multiplies a channel and its mean alike,
    so it leaves the result unchanged (up to the pixels it clips at 1): the network then tells
    vehicles from the road by their contrast with the frame, not by absolute colours (issue 31:
    the perceiver fell from F1 0.99 to 0.63 at 60% brightness). The mean, not the median: the
    same invariance, at a fraction of the cost.

    :param x: ``(B, C, H, W)`` pixels in [0, 1], three colour channels per frame.
    :return: the same shape; 0 where a pixel has its frame's mean colour.
    """
    mean = x.mean(dim=(2, 3), keepdim=True)
    scale = 1 / mean.clamp(min=CHANNEL_MEAN_FLOOR)
    return torch.addcmul(-mean * scale, x, scale)  # (x - mean) * scale, in one pass


def hue_blind(x: Tensor) -> Tensor:
    """Each pixel's largest and smallest channel of :func:`relative_to_frame`, per frame.

    A colour's hue moves its middle channel only (its largest and smallest are its value and its
    value less its chroma), so on a grey road a vehicle reads the same whatever its hue, and the
    order of the colour channels does not matter either: a vehicle in a colour never seen in
    training looks like one of the same saturation and brightness that was (issue 31).

    :param x: ``(B, 3 * stack, H, W)`` pixels in [0, 1].
    :return: ``(B, 2 * stack, H, W)``: per frame, the largest then the smallest channel.
    """
    batch, channels, height, width = x.shape
    frames = relative_to_frame(x).reshape(batch, channels // 3, 3, height, width)
    extremes = torch.stack([frames.amax(dim=2), frames.amin(dim=2)], dim=2)
    return extremes.view(batch, 2 * (channels // 3), height, width)


PIXEL_READINGS: dict[str, tuple[int, Callable[[Tensor], Tensor]]] = {
    "rgb": (3, lambda x: x),  # the pixels as drawn
    "relative": (3, relative_to_frame),
    "hue-blind": (2, hue_blind),
}
"""How the network reads a frame's pixels: its channels per frame and the function."""


def stack_channels(frames: np.ndarray) -> np.ndarray:
    """Frame stacks ``(..., stack, H, W, 3)`` as the dataset stores them to the network's input
    ``(..., H, W, 3 * stack)`` (oldest frame's channels first)."""
    moved = np.moveaxis(frames, -4, -2)  # (..., H, W, stack, 3)
    return np.ascontiguousarray(moved).reshape(*moved.shape[:-2], -1)


def _cell_centres(frames: FrameSpec) -> Tensor:
    """``(K, 2)`` the slot cells' centres relative to the ego [m], row-major (rows along y)."""
    rows, columns = frames.height_px // CELL_PX, frames.width_px // CELL_PX
    x_px = (torch.arange(columns) + 0.5) * CELL_PX - frames.width_px / 2
    y_px = (torch.arange(rows) + 0.5) * CELL_PX - frames.height_px / 2
    y, x = torch.meshgrid(y_px, x_px, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=-1) / frames.scaling_px_per_m


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
