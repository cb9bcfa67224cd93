"""A Frechet distance between sets of frames, on features of our own trained perception network.

The Frechet Inception Distance compares Gaussian fits to two sets of Inception-v3 features; here
the features are the 128 numbers that :class:`~perception.cnn.StnPerceptionNet` computes from a
frame before its ego-lane head (after the stem, the spatial transformer and the backbone), so
nothing is downloaded and the features know what matters in these frames: vehicles, lanes, the
road's edges. The figures are **not** comparable to published FID values, which use Inception.

torchmetrics' ``FrechetInceptionDistance`` does the statistics; this module supplies its feature
extractor. The network reads stacks of frames; a single frame is given as a still stack (the
frame repeated), which is what a parked scene would look like.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance

from perception.camera import HIGHWAY_WEIGHTS, load_network
from perception.cnn import StnPerceptionNet

# The network whose features the GANs' Frechet distances were measured with (docs/perception.md):
# the first shipped perceiver, trained on highway-v0 frames, kept when the shipped one changed.
FRECHET_WEIGHTS = HIGHWAY_WEIGHTS


class OwnEncoderFeatures(nn.Module):
    """Frames to the perception network's 128 scene features, as torchmetrics expects.

    :param network: a trained perception network.
    """

    def __init__(self, network: StnPerceptionNet) -> None:
        super().__init__()
        self.network = network.eval()
        self.stack = network.frames.stack
        self.num_features = network.trunk[2].out_features  # read by torchmetrics

    def forward(self, images: Tensor) -> Tensor:
        """:param images: ``(N, 3, H, W)`` uint8 frames. :return: ``(N, 128)`` features."""
        x = images.float().div(255).repeat(1, self.stack, 1, 1)  # a still stack
        features, _ = self.network.feature_map(x)
        return self.network.trunk(features)


def frechet_metric(weights: Path = FRECHET_WEIGHTS, *, device: str) -> FrechetInceptionDistance:
    """A Frechet distance on our perception features, on ``device``."""
    network, _ = load_network(weights, device=device)
    # The feature sums and covariances are kept in float64 by torchmetrics whatever the network's
    # own precision.
    metric = FrechetInceptionDistance(feature=OwnEncoderFeatures(network), normalize=False)
    return metric.to(device)


def frechet_distance(
    metric: FrechetInceptionDistance,
    real: np.ndarray,
    generated: np.ndarray,
    *,
    batch_size: int = 128,
) -> float:
    """The Frechet distance between two sets of frames.

    :param metric: from :func:`frechet_metric`; it is reset first.
    :param real: ``(N, H, W, 3)`` uint8 frames.
    :param generated: ``(M, H, W, 3)`` uint8 frames.
    :return: the distance (0 for identical sets).
    """
    metric.reset()
    device = metric.device
    with torch.inference_mode():
        for frames, is_real in ((real, True), (generated, False)):
            for start in range(0, len(frames), batch_size):
                chunk = torch.from_numpy(frames[start : start + batch_size]).permute(0, 3, 1, 2)
                metric.update(chunk.to(device), real=is_real)
        return float(metric.compute())


def shuffle_pixels(frames: np.ndarray, *, seed: int) -> np.ndarray:
    """Each frame's pixels in a random order (one permutation for all): the colours stay, the
    structure goes. The baseline that any generator must beat."""
    count, height, width, channels = frames.shape
    order = np.random.default_rng(seed).permutation(height * width)
    flat = frames.reshape(count, height * width, channels)
    return flat[:, order].reshape(frames.shape)
