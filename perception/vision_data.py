"""Single frames for the vision modules (detector, GANs), taken from ``drive dataset`` folders.

Every frame of every stack becomes a sample with its own ``scene`` block, so a dataset of S stacks
of 3 gives 3 S frames, each with its layout and boxes (:mod:`perception.layout`). Datasets written
before ``scene`` was recorded are refused by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.layout import draw_layout, vehicle_boxes
from perception.train import frame_spec
from sims.dataset import MANIFEST, FrameSpec, load_shards
from sims.strict import ConfigError

VALIDATION_SPLIT = 0.1  # without --validation: the last tenth of the training frames


@dataclass(frozen=True)
class VisionFrames:
    """Frames with the state they were rendered from.

    :param images: ``(N, H, W, 3)`` uint8.
    :param scenes: ``(N, rows, 6)`` float64, each frame's ``scene`` block (ego first).
    :param lanes: ``(N,)`` the road's lane count.
    :param spec: the window the frames were rendered with.
    """

    images: np.ndarray
    scenes: np.ndarray
    lanes: np.ndarray
    spec: FrameSpec

    def __len__(self) -> int:
        return len(self.images)

    def layouts(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """The layouts of the frames ``indices`` (all by default), ``(n, C, H, W)`` uint8."""
        chosen = range(len(self)) if indices is None else indices
        return np.stack(
            [draw_layout(self.scenes[i], int(self.lanes[i]), self.spec) for i in chosen]
        )

    def boxes(self, index: int) -> np.ndarray:
        """The vehicles' pixel boxes of frame ``index``, ``(n, 4)`` float32 ``x0, y0, x1, y1``."""
        return vehicle_boxes(self.scenes[index], self.spec)

    def subset(self, indices: np.ndarray) -> VisionFrames:
        """The frames ``indices``."""
        return VisionFrames(
            self.images[indices], self.scenes[indices], self.lanes[indices], self.spec
        )


def load_vision_frames(folders: Sequence[Path], *, last_only: bool = False) -> VisionFrames:
    """Every frame of the datasets in ``folders``.

    :param last_only: keep only the last frame of each stack (the one the labels describe), so
        that no two frames are two simulation steps apart.
    :raises ConfigError: a folder without ``scene`` records, or folders with different windows.
    """
    if not folders:
        raise ConfigError("no dataset folder given")
    specs = {folder: frame_spec(folder) for folder in folders}
    spec = specs[folders[0]]
    images, scenes, lanes = [], [], []
    for folder in folders:
        if specs[folder] != spec:
            raise ConfigError(
                f"{folder}: window {specs[folder]} differs from {folders[0]}'s {spec}"
            )
        data = load_shards(folder)
        if "scene" not in data:
            raise ConfigError(
                f"{folder}: no 'scene' records (written by an older `drive dataset`); "
                "generate it again"
            )
        stack_images, stack_scenes = data["images"], data["scene"]
        if last_only:
            stack_images, stack_scenes = stack_images[:, -1:], stack_scenes[:, -1:]
        per_stack = stack_images.shape[1]
        images.append(stack_images.reshape(-1, *stack_images.shape[2:]))
        scenes.append(stack_scenes.reshape(-1, *stack_scenes.shape[2:]))
        lanes.append(np.repeat(data["lanes"], per_stack))
    return VisionFrames(np.concatenate(images), np.concatenate(scenes), np.concatenate(lanes), spec)


@dataclass(frozen=True)
class GanData:
    """Frames (and, for the cgan, their layouts) of the training and validation sets."""

    images: np.ndarray
    layouts: np.ndarray | None
    validation_images: np.ndarray
    validation_layouts: np.ndarray | None
    validation_source: str


def load_gan_data(
    folders: Sequence[Path], validation: Path | None, *, layouts: bool, validation_frames: int
) -> GanData:
    """The frames of ``folders``; validation from ``validation``, or else the last tenth of them.

    :param layouts: also draw the layouts (for the cgan).
    :param validation_frames: keep this many validation frames, evenly spread.
    :raises ConfigError: a folder that does not exist or holds no dataset.
    """
    for folder in [*folders, *([validation] if validation is not None else [])]:
        if not (folder / MANIFEST).exists():
            raise ConfigError(f"{folder}: no dataset there (no {MANIFEST}); see `drive dataset`")
    frames = load_vision_frames(list(folders))
    if validation is not None:
        held = load_vision_frames([validation])
        source = str(validation)
    else:
        split = len(frames) - max(1, int(len(frames) * VALIDATION_SPLIT))
        frames, held = frames.subset(np.arange(split)), frames.subset(np.arange(split, len(frames)))
        source = f"last {len(held)} frames of the training data"
    chosen = np.linspace(0, len(held) - 1, min(validation_frames, len(held))).round().astype(int)
    held = held.subset(np.unique(chosen))
    return GanData(
        images=frames.images,
        layouts=frames.layouts() if layouts else None,
        validation_images=held.images,
        validation_layouts=held.layouts() if layouts else None,
        validation_source=source,
    )
