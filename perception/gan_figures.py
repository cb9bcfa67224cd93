"""How generated frames compare and look: PSNR and SSIM against real frames, and pictures of
layouts and of frames side by side, for the GAN trainers' sample sheets and ``drive bench vision``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from perception.gan import generate_frames, load_cgan

LAYOUT_COLOURS = np.array([[255, 255, 255], [90, 160, 255], [255, 220, 0]], dtype=np.uint8)


def image_figures(
    generated: np.ndarray, real: np.ndarray, *, device: str = "cpu", batch_size: int = 64
) -> tuple[float, float]:
    """PSNR [dB] and SSIM of generated against real uint8 frames ``(N, H, W, 3)``, with
    torchmetrics at ``data_range=255`` (PSNR of the pooled squared error; SSIM averaged).

    :return: ``(psnr_db, ssim)``.
    """
    from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

    psnr = PeakSignalNoiseRatio(data_range=255.0).to(device)
    ssim = StructuralSimilarityIndexMeasure(data_range=255.0).to(device)
    for start in range(0, len(real), batch_size):
        fake, true = (
            torch.from_numpy(array[start : start + batch_size])
            .to(device)
            .permute(0, 3, 1, 2)
            .float()
            for array in (generated, real)
        )
        psnr.update(fake, true)
        ssim.update(fake, true)
    structural = ssim.compute()
    assert isinstance(structural, torch.Tensor)  # a tuple only with return_full_image
    return float(psnr.compute()), float(structural)


def evaluate_cgan(
    weights_dir: Path, folders: Sequence[Path], *, device: str = "cpu"
) -> dict[str, Any]:
    """PSNR [dB] and SSIM of the cgan in ``weights_dir`` on every frame of ``folders``.

    :return: ``{"psnr_db", "ssim", "frames", "data"}``.
    """
    from perception.vision_data import load_vision_frames

    frames = load_vision_frames(list(folders))
    generated = generate_frames(
        load_cgan(weights_dir, device=device), frames.layouts(), device=device
    )
    psnr_db, ssim = image_figures(generated, frames.images, device=device)
    return {
        "psnr_db": psnr_db,
        "ssim": ssim,
        "frames": len(frames),
        "data": [str(folder) for folder in folders],
    }


def layout_picture(layouts: np.ndarray) -> np.ndarray:
    """Layouts ``(N, 3, H, W)`` as uint8 pictures ``(N, H, W, 3)``: markings white, vehicles blue,
    the ego yellow, on black."""
    picture = np.zeros((len(layouts), *layouts.shape[2:], 3), dtype=np.uint8)
    for channel, colour in enumerate(LAYOUT_COLOURS):
        picture[layouts[:, channel] > 0] = colour
    return picture


def image_grid(rows: list[np.ndarray], *, gap_px: int = 2) -> np.ndarray:
    """Rows of pictures, each row a list ``(n, H, W, 3)`` placed side by side, into one picture."""
    height, width = rows[0].shape[1:3]
    columns = max(len(row) for row in rows)
    grid = np.full(
        (len(rows) * (height + gap_px), columns * (width + gap_px), 3), 255, dtype=np.uint8
    )
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            top, left = r * (height + gap_px), c * (width + gap_px)
            grid[top : top + height, left : left + width] = picture
    return grid
