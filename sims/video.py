"""Frame overlays and video writing (imageio-ffmpeg), written atomically.

An ``.mp4`` is H.264; a ``.webm`` is VP9, which every browser plays (Debian's Chromium, for one,
ships without an H.264 decoder), so the HTML report's videos are WebM.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import imageio.v2 as imageio
import numpy as np

BANNER_HEIGHT_PX = 24
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def with_banner(image: np.ndarray, text: str) -> np.ndarray:
    """Return ``image`` with a dark banner on top carrying one line of ``text``.

    :param image: an ``H x W x 3`` uint8 RGB frame.
    :param text: what to print (speed, decision, score...).
    :return: an ``(H + BANNER_HEIGHT_PX) x W x 3`` frame.
    """
    height, width = image.shape[:2]
    banner = np.full((BANNER_HEIGHT_PX, width, 3), 25, dtype=np.uint8)
    scale = min(0.5, 0.5 * width / max(1, 9 * len(text)))
    cv2.putText(banner, text, (6, 17), _FONT, scale, (240, 240, 240), 1, cv2.LINE_AA)
    return np.concatenate([banner, image], axis=0)


CODECS: dict[str, dict[str, Any]] = {
    ".mp4": {"codec": "libx264", "quality": 7},
    # Constant quality; the realtime deadline encodes several times faster than the default.
    ".webm": {
        "codec": "libvpx-vp9",
        "quality": None,
        "output_params": ["-b:v", "0", "-crf", "40", "-deadline", "realtime", "-cpu-used", "8"],
    },
}
"""imageio-ffmpeg's writer settings for each video file suffix."""


class VideoWriter:
    """Write RGB frames to an mp4 or a webm; the file appears only once it is complete.

    :param path: the video to write; its suffix (a key of :data:`CODECS`) picks the codec.
    :param fps: frames per second.
    """

    def __init__(self, path: Path | str, *, fps: float) -> None:
        self.path = Path(path)
        settings = CODECS.get(self.path.suffix)
        if settings is None:
            raise ValueError(f"{self.path}: videos are {' or '.join(CODECS)}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._writer = imageio.get_writer(
            self._partial,
            fps=fps,
            macro_block_size=1,
            ffmpeg_log_level="error",
            **settings,
        )
        self.frames = 0

    def append(self, frame: np.ndarray) -> None:
        """Add one ``H x W x 3`` uint8 frame (odd sizes are padded to even for yuv420p)."""
        self._writer.append_data(_pad_even(frame))
        self.frames += 1

    def close(self, *, keep: bool = True) -> None:
        """Finish the file and move it into place, or delete it when ``keep`` is false."""
        self._writer.close()
        if keep and self.frames:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(keep=kind is None)


def read_video(path: Path | str) -> Sequence[np.ndarray]:
    """Read all frames of a video (used by tests and reports)."""
    return list(imageio.mimread(path, memtest=False))


def _pad_even(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return frame
    return np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
