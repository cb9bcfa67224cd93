"""Banner overlay and atomic mp4 writing."""

from __future__ import annotations

import numpy as np
import pytest

from sims.video import BANNER_HEIGHT_PX, VideoWriter, read_video, with_banner


def test_banner_adds_a_strip_with_text():
    frame = np.zeros((150, 600, 3), dtype=np.uint8)
    out = with_banner(frame, "t 1.0 s | 90 km/h")
    assert out.shape == (150 + BANNER_HEIGHT_PX, 600, 3)
    assert out[:BANNER_HEIGHT_PX].max() > 200  # the text is drawn


def test_video_round_trip(tmp_path):
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=15) as video:
        for k in range(20):
            video.append(np.full((51, 61, 3), 10 * k, dtype=np.uint8))  # odd sizes get padded
    frames = read_video(path)
    assert len(frames) == 20
    assert frames[0].shape == (52, 62, 3)


def test_failed_recording_leaves_no_file(tmp_path):
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), VideoWriter(path, fps=15) as video:
        video.append(np.zeros((50, 60, 3), dtype=np.uint8))
        raise RuntimeError("crash mid-episode")
    assert list(tmp_path.iterdir()) == []
