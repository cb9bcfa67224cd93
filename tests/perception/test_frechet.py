"""The Frechet distance on our perception features: zero for a set against itself, ordered."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perception.camera import load_network
from perception.frechet import (
    FRECHET_WEIGHTS,
    OwnEncoderFeatures,
    frechet_distance,
    frechet_metric,
    shuffle_pixels,
)


def _frames(count: int, seed: int) -> np.ndarray:
    """Grey road frames with white lane lines and a few light-blue cars, like the renderer's."""
    rng = np.random.default_rng(seed)
    frames = np.full((count, 64, 256, 3), 100, dtype=np.uint8)
    frames[:, [12, 44]] = 255
    frames[:, 28, ::9] = 255
    for frame in frames:
        for _ in range(rng.integers(2, 8)):
            u, v = rng.integers(0, 246), rng.choice([18, 34, 50])
            frame[v : v + 4, u : u + 10] = (100, 200, 255)
    return frames


def test_features_are_the_networks_128_scene_features_of_a_still_stack():
    network, _ = load_network(FRECHET_WEIGHTS, device="cpu")
    features = OwnEncoderFeatures(network)
    frames = torch.from_numpy(_frames(2, 0)).permute(0, 3, 1, 2)
    with torch.inference_mode():
        out = features(frames)
        still = frames.permute(0, 2, 3, 1).repeat(1, 1, 1, network.frames.stack)  # (B, H, W, 9)
        x = still.permute(0, 3, 1, 2).float() / 255
        expected = network.trunk(network.backbone(network.transformer(network.stem(x))[0]))
    assert out.shape == (2, features.num_features) == (2, 128)
    torch.testing.assert_close(out, expected)


def test_distance_is_zero_for_a_set_against_itself_and_grows_with_damage():
    metric = frechet_metric(device="cpu")
    real = _frames(160, 1)
    assert frechet_distance(metric, real, real) == pytest.approx(0.0, abs=1e-2)
    other = frechet_distance(metric, real, _frames(160, 2))
    shuffled = frechet_distance(metric, real, shuffle_pixels(real, seed=0))
    assert 0 < other < shuffled


def test_shuffling_keeps_each_frames_colours_and_loses_its_structure():
    frames = _frames(3, 3)
    shuffled = shuffle_pixels(frames, seed=0)
    for frame, mixed in zip(frames, shuffled, strict=True):
        colours = np.unique(frame.reshape(-1, 3), axis=0, return_counts=True)
        mixed_colours = np.unique(mixed.reshape(-1, 3), axis=0, return_counts=True)
        np.testing.assert_array_equal(colours[0], mixed_colours[0])
        np.testing.assert_array_equal(colours[1], mixed_colours[1])
    assert not (shuffled[:, 12] == 255).all()  # the lane line is scattered
