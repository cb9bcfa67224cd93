"""Reading a frame's zoom from its lane markings, and undoing it (issue 31).

A frame drawn at ``z`` times the window's pixels per metre shows the road ``z`` times larger. The
spatial transformer was meant to learn the warp that undoes it and does not: its localisation
reads a feature map pooled to 4 x 16 cells, where lanes 8 and 8.8 px wide look alike
(docs/perception.md, "Undoing the zoom"). And given the exact warp, the transformer, which warps
the stem's features, recovers little (pooled F1 0.70 / 0.73 at zooms 0.9 / 1.1, against 0.973 /
0.938 when the same warp is applied to the pixels: ``docs/experiments/zoom_reading.py``).

So the zoom is read from the pixels, where it is plain to see: highway-env draws dashed lane
lines with one stripe every ``STRIPE_SPACING`` = 4.33 m (``LaneGraphics``), so along a straight
road the brightness of a frame's columns repeats every 4.33 m x px/m x z pixels. The period is
found as the strongest component of that column profile among candidate periods (a Fourier
transform at non-integer frequencies, one matrix product); 320 px hold 37 periods, which read the
zoom to about 0.2%. Where the road is not straight (roundabouts, intersections) the profile has no
strong period and the frame is read at zoom 1. This is hand-written because the reading is a
property of highway-env's drawing that no library knows; the warp itself is torch's
``affine_grid`` / ``grid_sample``.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

STRIPE_SPACING_M = 4.33  # [m] highway-env's LaneGraphics.STRIPE_SPACING: one dash per period
ZOOM_RANGE = (0.8, 1.25)  # the zooms looked for
PERIOD_STEP = 0.001  # candidate periods' spacing, relative to the nominal period
# A frame's profile counts as periodic when its strongest candidate holds this much more power
# than an average frequency would (Parseval; a pure sinusoid over n columns: n / 2, so the figure
# is tuned to 320 px windows: the straight roads' held-out frames read 48-68 at the tenth
# percentile and median, merge 14-28, the curved roads 1-9 at the ninetieth).
MIN_STRENGTH = 15.0
# Frames read within 2.5% of zoom 1 are left as they are: on clean held-out frames of exit and
# merge, whose slanted ramps add their own period, a sixth of the readings are up to 2.1% off.
ZOOM_TOLERANCE = 0.025
# A frame is read only where its whitest pixels stand this far above its mean (markings: 0.6 on
# highway-env's grey road, 0.3 at half brightness): on a frame without markings, the threshold
# halfway up would fall within a faint pattern's reach.
MIN_CONTRAST = 0.15


def read_zoom(pixels: Tensor, *, px_per_m: float) -> Tensor:
    """Each frame's zoom, read from the period of its lane markings; 1 where it shows none.

    :param pixels: ``(B, 3 * stack, H, W)`` float pixels in [0, 1], RGB frames oldest first (the
        last frame is read).
    :param px_per_m: the window's pixels per metre at zoom 1.
    :return: ``(B,)`` zooms.
    """
    with torch.no_grad():
        whiteness = pixels[:, -3:].amin(dim=1)  # markings are white: every channel high
        # Markings, binarised halfway between the frame's mean whiteness (the road's grey) and
        # its largest (the markings' white): the column means of raw whiteness wave by ~0.01,
        # which a 4/255 pattern of stripes could imitate; no pixel of grey road or white
        # marking is that close to the threshold.
        mean, top = whiteness.mean(dim=(1, 2)), whiteness.amax(dim=(1, 2))
        marking = whiteness > ((mean + top) / 2)[:, None, None]
        contrasted = top - mean >= MIN_CONTRAST
        profile = marking.float().mean(dim=1).double()  # (B, W): columns' share marked
        profile = profile - profile.mean(dim=1, keepdim=True)
        zooms, cosine, sine = _basis(profile.shape[1], px_per_m, str(pixels.device))
        power = (profile @ cosine) ** 2 + (profile @ sine) ** 2  # (B, candidate zooms)
        best, index = power.max(dim=1)
        strength = best / (profile**2).sum(dim=1).clamp(min=1e-12)
        zoom = torch.where((strength >= MIN_STRENGTH) & contrasted, zooms[index], 1.0)
    return zoom.to(pixels.dtype)


@lru_cache(maxsize=8)
def _basis(width_px: int, px_per_m: float, device: str) -> tuple[Tensor, Tensor, Tensor]:
    """The candidate zooms and the cosines and sines of each column at each one's dash period,
    on ``device`` (made once per window and device)."""
    zooms = torch.arange(ZOOM_RANGE[0], ZOOM_RANGE[1], PERIOD_STEP, dtype=torch.float64)
    columns = torch.arange(width_px, dtype=torch.float64)
    phase = 2 * torch.pi * columns[:, None] / (STRIPE_SPACING_M * px_per_m * zooms[None, :])
    return zooms.to(device), torch.cos(phase).to(device), torch.sin(phase).to(device)


def undo_zoom(pixels: Tensor, zoom: Tensor) -> Tensor:
    """The frames as drawn at zoom 1: each resampled about its centre (the ego) by its ``zoom``,
    bilinearly, the border repeated where the frame showed less; frames within
    :data:`ZOOM_TOLERANCE` of 1 are returned untouched.

    :param pixels: ``(B, C, H, W)`` float pixels.
    :param zoom: ``(B,)`` each frame's zoom (:func:`read_zoom`).
    :return: ``(B, C, H, W)`` pixels (``pixels`` itself where no frame is warped).
    """
    zoomed = (zoom - 1).abs() > ZOOM_TOLERANCE
    if not bool(zoomed.any()):
        return pixels
    warped = zoom_about_centre(pixels, 1 / zoom)
    return torch.where(zoomed[:, None, None, None], warped, pixels)


def zoom_about_centre(pixels: Tensor, factor: Tensor) -> Tensor:
    """The frames as if drawn at ``factor`` times their pixels per metre, about their centre (the
    ego), bilinearly, the border repeated where they show less. The one resampling of a zoom:
    the training augmentation, the robustness report and :func:`undo_zoom` call it.

    :param pixels: ``(B, C, H, W)`` float pixels.
    :param factor: ``(B,)`` each frame's zoom factor.
    :return: ``(B, C, H, W)`` pixels.
    """
    # A frame drawn at z shows a point at z times its coordinate, so it samples the frame at 1/z
    # times each of its own coordinates.
    theta = torch.zeros(len(pixels), 2, 3, dtype=pixels.dtype, device=pixels.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / factor.to(pixels.dtype)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, padding_mode="border", align_corners=False)
