"""Reading a frame's zoom from its dashed lane lines, and undoing it (perception/zoom.py)."""

from __future__ import annotations

import pytest
import torch

from perception.cnn import StnPerceptionNet
from perception.robustness import blur, scale, stripes
from perception.zoom import STRIPE_SPACING_M, ZOOM_TOLERANCE, read_zoom, undo_zoom
from sims.dataset import FrameSpec

PX_PER_M = 2.0


def _road(
    zoom: float,
    *,
    stack: int = 2,
    height: int = 64,
    width: int = 320,
    line_half_width_m: float = 0.3,
) -> torch.Tensor:
    """A grey road with dashed white lane lines every 4 m, drawn at ``zoom`` times 2 px/m."""
    x = (torch.arange(width) - width / 2 + 0.5) / (PX_PER_M * zoom)  # [m] from the centre
    y = (torch.arange(height) - height / 2 + 0.5) / (PX_PER_M * zoom)
    dashes = torch.remainder(x, STRIPE_SPACING_M) < 3.0  # highway-env's 3 m stripes
    lines = torch.remainder(y + 2.0, 4.0).sub(2.0).abs() < line_half_width_m
    white = lines[:, None] & dashes[None, :]
    frame = torch.full((3, height, width), 100 / 255).masked_fill(white, 1.0)
    return frame.repeat(stack, 1, 1)[None]


@pytest.mark.parametrize("zoom", [0.85, 0.9, 1.0, 1.05, 1.1, 1.2])
def test_the_zoom_is_read_from_the_dash_period(zoom):
    read = read_zoom(_road(zoom), px_per_m=PX_PER_M)
    assert float(read) == pytest.approx(zoom, rel=0.003)


def test_a_frame_without_dashed_lines_reads_as_zoom_one():
    generator = torch.Generator().manual_seed(0)
    blank = torch.full((1, 6, 64, 320), 0.4)
    noisy = torch.rand((1, 6, 64, 320), generator=generator)
    solid = _road(1.1)
    solid[:, :, :, :] = solid.amax(dim=3, keepdim=True)  # unbroken lines: no period along x
    assert read_zoom(torch.cat([blank, noisy, solid]), px_per_m=PX_PER_M).tolist() == [1, 1, 1]


def test_a_faint_pattern_of_stripes_does_not_move_the_reading():
    # Column means of raw whiteness wave by ~0.01 along a real road: a 4/255 square wave at
    # another zoom's period out-weighed the dashes until the markings were binarised first.
    def striped(frame: torch.Tensor, zoom: float) -> torch.Tensor:
        return stripes(zoom, px_per_m=PX_PER_M)(frame, {})

    # Thin lines: at zoom 1 no row of pixels shows them (the frame has no markings), at 1.1 some.
    thin = [_road(zoom, line_half_width_m=0.15) for zoom in (1.0, 1.1)]
    frames = torch.cat([striped(thin[0], 1.2), striped(thin[1], 0.85)])
    read = read_zoom(frames, px_per_m=PX_PER_M)
    assert read.tolist() == pytest.approx([1.0, 1.1], rel=0.003)


def test_undoing_the_zoom_restores_the_frame_and_leaves_frames_at_zoom_one_alone():
    plain = blur(1.0)(_road(1.0), {})  # edges of a pixel or two, as highway-env's antialiasing
    zoomed = scale(1.1)(plain, {})  # as the robustness report zooms
    restored = undo_zoom(zoomed, torch.tensor([1.1]))
    centre = (slice(None), slice(None), slice(16, 48), slice(80, 240))
    restored_error = (restored[centre] - plain[centre]).abs().mean()
    zoomed_error = (zoomed[centre] - plain[centre]).abs().mean()
    assert restored_error < 0.2 * zoomed_error
    near_one = torch.tensor([1 + ZOOM_TOLERANCE / 2])
    assert undo_zoom(plain, near_one) is plain


def test_the_inference_copy_reads_frames_at_zoom_one_and_training_reads_them_as_drawn():
    torch.manual_seed(0)
    network = StnPerceptionNet(FrameSpec(width_px=320, height_px=64, stack=2), width=8)
    inference = network.for_inference()
    assert inference.reads_zoom and not network.reads_zoom
    plain = blur(1.0)(_road(1.0), {})
    zoomed = scale(1.1)(plain, {})
    with torch.no_grad():
        read = inference.forward_pixels(torch.cat([plain, zoomed])).slots
        inference.reads_zoom = False
        as_drawn = inference.forward_pixels(torch.cat([plain, zoomed])).slots
        undone = inference.forward_pixels(undo_zoom(zoomed, read_zoom(zoomed, px_per_m=2.0))).slots
    assert torch.equal(read[0], as_drawn[0])  # a frame at zoom 1 is read as it is
    torch.testing.assert_close(read[1], undone[0], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(read[1], as_drawn[1], atol=1e-3)
