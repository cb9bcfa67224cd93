"""A Faster R-CNN vehicle detector for the simulator's bird's-eye frames (issue 9).

The network is torchvision's Faster R-CNN on a MobileNetV3-Large + FPN backbone, built from
torchvision's public pieces with nothing downloaded (trained from scratch, :mod:`perception.train_detector`).
Its input transform is set to the frame's own size, so frames are never rescaled.

It departs from the stock ``fasterrcnn_mobilenet_v3_large_fpn`` builder because the vehicles are
tiny: about 10 x 4 px (5 m x 2 m at 2 px/m) in 256 x 64 px frames. The stock model reads only the
stride-16 and stride-32 stages with anchors of 32 px and more, so a whole vehicle falls inside one
feature cell, far below its smallest anchor; its 256-channel FPN and 1024-wide box head make it
19 M parameters (~74 MB). Here the backbone (half width by default) stops after the stride-16
stage, the FPN reads the stride-4, 8 and 16 stages with 32 channels, the smallest anchors are
6 and 9 px boxes as flat as a vehicle, the RoI pooling reads the stride-4 level, and the box head
is 128 wide: 0.38 M parameters by default (0.8 MB in fp16), trainable on a CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import imageio.v2 as imageio
import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from torchmetrics.detection import MeanAveragePrecision
from torchvision.models import mobilenet_v3_large
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

from perception.vision_data import VisionFrames
from sims.dataset import FrameSpec, card_frame_spec
from sims.reading import checked_state, read_json, refusing
from sims.strict import ConfigError
from sims.video import VideoWriter

SHIPPED_DETECTOR = Path(__file__).parent / "weights" / "detector"
# Anchors by side [px] (sqrt of the area) per FPN level (strides 4, 8, 16 and the FPN's max-pool,
# 32), and height/width ratios: 0.4 is a 10 x 4 px vehicle, 0.7 a rotated (lane-changing) one,
# 1.5 one cut by the frame's edge. Every level needs the same number of anchors (one RPN head).
ANCHOR_SIZES_PX = ((6.0, 9.0), (12.0, 18.0), (24.0, 36.0), (48.0, 72.0))
ANCHOR_RATIOS = (0.4, 0.7, 1.5)
IMAGE_MEAN = (0.4, 0.4, 0.4)  # the grey road
IMAGE_STD = (0.25, 0.25, 0.25)
ROI_SIZE_CELLS = 5  # RoIAlign's output grid (5 x 5)
VEHICLE_LABEL = 1  # class 0 is the background
BOX_COLOUR = (255, 40, 40)  # RGB


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's size.

    :param width_mult: MobileNetV3's channel multiplier.
    :param fpn_channels: channels of every FPN level.
    :param representation: width of the box head's two layers.
    """

    width_mult: float = 0.5
    fpn_channels: int = 32
    representation: int = 128

    def __post_init__(self) -> None:
        if not 0.1 <= self.width_mult <= 2.0:
            raise ConfigError(f"width_mult must be in [0.1, 2], got {self.width_mult}")
        for name in ("fpn_channels", "representation"):
            if getattr(self, name) < 8:
                raise ConfigError(f"{name} must be >= 8, got {getattr(self, name)}")


@dataclass(frozen=True)
class Detection:
    """The vehicles found in one frame.

    :param boxes: ``(n, 4)`` float32 pixel boxes ``x0, y0, x1, y1``.
    :param scores: ``(n,)`` float32 confidences in [0, 1].
    """

    boxes: np.ndarray
    scores: np.ndarray


def build_detector(spec: FrameSpec, config: DetectorConfig = DetectorConfig()) -> FasterRCNN:
    """A fresh, randomly initialised detector for frames of ``spec``'s size (see module docstring).

    :param spec: the frames' window; the transform's sizes are set to it, so no rescaling happens.
    :param config: the detector's size.
    """
    features = mobilenet_v3_large(
        weights=None, width_mult=config.width_mult, norm_layer=nn.BatchNorm2d
    ).features
    # The stages begin at the layers torchvision marks `_is_cn` (strides 4, 8, 16, 32); keep the
    # last layer of the stride-4, 8 and 16 stages and drop the stride-32 stage altogether.
    starts = [index for index, layer in enumerate(features) if getattr(layer, "_is_cn", False)]
    ends = [start - 1 for start in starts[1:4]]
    body = features[: ends[-1] + 1]
    backbone = BackboneWithFPN(
        body,
        return_layers={str(end): str(level) for level, end in enumerate(ends)},
        in_channels_list=[int(features[end].out_channels) for end in ends],
        out_channels=config.fpn_channels,
    )
    anchors = AnchorGenerator(
        sizes=ANCHOR_SIZES_PX, aspect_ratios=(ANCHOR_RATIOS,) * len(ANCHOR_SIZES_PX)
    )
    # A vehicle is 2.5 x 1 cells of the stride-4 level: a 5 x 5 grid of single samples reads it
    # whole, and keeps RoIAlign's backward pass (slow on the CPU) cheap.
    pool = MultiScaleRoIAlign(featmap_names=["0"], output_size=ROI_SIZE_CELLS, sampling_ratio=1)
    return FasterRCNN(
        backbone,
        min_size=min(spec.height_px, spec.width_px),
        max_size=max(spec.height_px, spec.width_px),
        image_mean=list(IMAGE_MEAN),
        image_std=list(IMAGE_STD),
        rpn_anchor_generator=anchors,
        # A 4 px tall anchor 2 px off a 4 px tall vehicle overlaps it by IoU 1/3: the stock 0.7
        # would leave most vehicles with a single (low-quality) positive anchor.
        rpn_fg_iou_thresh=0.5,
        rpn_bg_iou_thresh=0.25,
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=300,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=pool,
        box_head=TwoMLPHead(config.fpn_channels * ROI_SIZE_CELLS**2, config.representation),
        box_predictor=FastRCNNPredictor(config.representation, 2),
        box_batch_size_per_image=64,
        box_detections_per_img=50,
    )


def fit_transform(model: FasterRCNN, height_px: int, width_px: int) -> None:
    """Set the model's input transform to frames of this size, so it rescales them by exactly 1."""
    model.transform.min_size = (min(height_px, width_px),)
    model.transform.max_size = max(height_px, width_px)


def to_tensors(images: np.ndarray, device: str) -> list[torch.Tensor]:
    """``(N, H, W, 3)`` uint8 frames as the list of ``(3, H, W)`` floats in [0, 1] the model takes."""
    batch = torch.as_tensor(images).to(device).permute(0, 3, 1, 2).float() / 255
    return list(batch)


@torch.no_grad()
def predict(
    model: FasterRCNN, images: np.ndarray, *, device: str, batch_size: int = 32
) -> list[Detection]:
    """The detections in each of ``images``, ``(N, H, W, 3)`` uint8 (mixed precision on CUDA).

    :param model: a detector in eval mode, on ``device``.
    """
    detections = []
    for start in range(0, len(images), batch_size):
        inputs = to_tensors(images[start : start + batch_size], device)
        with torch.autocast(device_type=device, enabled=device == "cuda"):
            outputs = model(inputs)
        for output in outputs:
            detections.append(
                Detection(
                    output["boxes"].float().cpu().numpy(), output["scores"].float().cpu().numpy()
                )
            )
    return detections


def map_figures(detections: Sequence[Detection], truths: Sequence[np.ndarray]) -> dict[str, float]:
    """COCO mAP and mAP@0.5 (torchmetrics ``MeanAveragePrecision``, ``xyxy`` boxes).

    :param detections: each frame's detections.
    :param truths: each frame's true ``(n, 4)`` pixel boxes.
    :return: ``map`` (IoU 0.5:0.95) and ``map50``.
    """
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox")
    metric.update(
        [
            {
                "boxes": torch.as_tensor(d.boxes, dtype=torch.float32).reshape(-1, 4),
                "scores": torch.as_tensor(d.scores, dtype=torch.float32),
                "labels": torch.full((len(d.boxes),), VEHICLE_LABEL, dtype=torch.int64),
            }
            for d in detections
        ],
        [
            {
                "boxes": torch.as_tensor(t, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.full((len(t),), VEHICLE_LABEL, dtype=torch.int64),
            }
            for t in truths
        ],
    )
    result = metric.compute()
    return {"map": float(result["map"]), "map50": float(result["map_50"])}


def evaluate_detector(
    model: nn.Module, frames: VisionFrames, *, device: str, batch_size: int = 32
) -> dict[str, Any]:
    """The detector's figures on ``frames``: mAP, mAP@0.5 and inference throughput.

    :param model: a detector in eval mode, on ``device`` (:func:`load_detector`).
    :param batch_size: frames per forward pass.
    :return: ``map``, ``map50``, ``frames``, ``frames_per_s`` (forward passes only, measured over
        the whole set), ``batch_size`` and ``device``.
    """
    if len(frames) == 0:
        raise ConfigError("no frames to evaluate the detector on")
    assert isinstance(model, FasterRCNN)
    fit_transform(model, frames.spec.height_px, frames.spec.width_px)
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    detections = predict(model, frames.images, device=device, batch_size=batch_size)
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed_s = time.perf_counter() - started
    figures = map_figures(detections, [frames.boxes(i) for i in range(len(frames))])
    return {
        **figures,
        "frames": len(frames),
        "frames_per_s": round(len(frames) / elapsed_s, 1),
        "batch_size": batch_size,
        "device": device,
    }


def half_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights for shipping: float tensors in fp16, batch-norm statistics in fp32."""
    state = {}
    for name, tensor in model.state_dict().items():
        keep = not tensor.is_floating_point() or name.endswith(("running_mean", "running_var"))
        state[name] = (tensor if keep else tensor.half()).detach().cpu().contiguous()
    return state


def load_detector(weights_dir: Path, *, device: str) -> nn.Module:
    """The detector in ``weights_dir`` (``best.safetensors`` + ``card.json``), in eval mode.

    :param device: ``cpu`` or ``cuda`` (resolve ``auto`` with :func:`perception.device.resolve_device`).
    :raises ConfigError: a missing file or a card that does not describe a detector.
    """
    weights, card_path = weights_dir / "best.safetensors", weights_dir / "card.json"
    for path in (weights, card_path):
        if not path.exists():
            raise ConfigError(
                f"{weights_dir}: no {path.name}; train one with `drive train-detector`"
            )
    card = read_json(card_path, "detector card", allow_nan=True)
    with refusing(card_path, "detector card"):
        spec, config = FrameSpec(**card["frame_spec"]), DetectorConfig(**card["detector"])
        model = build_detector(spec, config)
    with refusing(weights, "safetensors weights file"):
        tensors = load_file(weights)
    # stored in half precision: checked_state brings them back to the network's float32
    model.load_state_dict(checked_state(tensors, model.state_dict(), path=weights))
    return model.eval().to(device)


def detector_spec(weights_dir: Path) -> FrameSpec:
    """The window the detector in ``weights_dir`` was trained on (its scale above all)."""
    return card_frame_spec(weights_dir, kind="detector", trainer="drive train-detector")


def draw_detections(image: np.ndarray, detection: Detection, *, threshold: float) -> np.ndarray:
    """``image`` (RGB uint8) with each box scoring at least ``threshold`` and its score drawn."""
    canvas = np.ascontiguousarray(image).copy()
    scale = max(0.3, min(0.5, canvas.shape[0] / 300))
    for box, score in zip(detection.boxes, detection.scores, strict=True):
        if score < threshold:
            continue
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX_COLOUR, 1)
        cv2.putText(
            canvas,
            f"{score:.2f}",
            (x0, max(y0 - 2, 8)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            BOX_COLOUR,
            1,
            cv2.LINE_AA,
        )
    return canvas


@dataclass(frozen=True)
class VideoSummary:
    """What :func:`detect_video` wrote: frames, and boxes drawn over all of them."""

    frames: int
    boxes: int


def detect_video(
    model: nn.Module,
    video: Path,
    out: Path,
    *,
    scale: float,
    threshold: float,
    batch_size: int,
    device: str,
    skip_top_px: int = 0,
    on_frames: Callable[[int, int | None, int], None] | None = None,
) -> VideoSummary:
    """Run the detector on every frame of ``video`` and write ``out`` with boxes and scores drawn.

    :param model: a detector in eval mode on ``device`` (:func:`load_detector`).
    :param scale: the video's pixels per metre over the detector's; frames are shrunk by it for
        the detector, and the boxes grown back by it for drawing on the original frames.
    :param skip_top_px: rows at the top of each frame the detector does not see (a banner).
    :param on_frames: called as ``on_frames(done, total or None, boxes drawn so far)``.
    :raises ConfigError: a missing file, or one ffmpeg cannot read as a video.
    """
    if not video.is_file():
        raise ConfigError(f"{video}: no such video file")
    if scale <= 0:
        raise ConfigError(f"the video's scale must be > 0, got a ratio of {scale}")
    assert isinstance(model, FasterRCNN)
    try:
        reader = imageio.get_reader(video, format="FFMPEG")
        meta = reader.get_meta_data()
    except Exception as error:  # imageio raises OSError, ValueError, RuntimeError... by plugin
        raise ConfigError(f"{video}: not a readable video ({error})") from error
    count = meta.get("nframes")
    total = int(count) if isinstance(count, (int, float)) and math.isfinite(count) else None
    frames = boxes = 0
    try:
        with VideoWriter(out, fps=float(meta.get("fps") or 15.0)) as writer:
            for batch in _batches(reader, video, batch_size):
                if skip_top_px >= batch[0].shape[0]:
                    raise ConfigError(
                        f"skip_top_px {skip_top_px} leaves nothing of {video}'s "
                        f"{batch[0].shape[0]} px tall frames"
                    )
                small = np.stack([_rescale(frame[skip_top_px:], 1 / scale) for frame in batch])
                fit_transform(model, small.shape[1], small.shape[2])
                for frame, found in zip(
                    batch, predict(model, small, device=device, batch_size=batch_size), strict=True
                ):
                    offset = np.array([0, skip_top_px, 0, skip_top_px], np.float32)
                    grown = Detection(found.boxes * scale + offset, found.scores)
                    writer.append(draw_detections(frame, grown, threshold=threshold))
                    boxes += int((found.scores >= threshold).sum())
                frames += len(batch)
                if on_frames is not None:
                    on_frames(frames, total, boxes)
    finally:
        reader.close()
    if frames == 0:
        raise ConfigError(f"{video}: the video holds no frames")
    return VideoSummary(frames, boxes)


def _batches(reader: Any, video: Path, batch_size: int) -> Iterator[list[np.ndarray]]:
    """The video's frames as RGB uint8, ``batch_size`` at a time."""
    batch: list[np.ndarray] = []
    try:
        for frame in reader:
            image = np.asarray(frame)
            image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
            batch.append(image.astype(np.uint8))
            if len(batch) == batch_size:
                yield batch
                batch = []
    except (OSError, RuntimeError, ValueError) as error:
        raise ConfigError(f"{video}: cannot read its frames ({error})") from error
    if batch:
        yield batch


def _rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` resized by ``factor`` (area averaging when shrinking)."""
    if factor == 1:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    method = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=method)
