"""Feature extractors for Stable-Baselines3 policies over the encoding of :mod:`planning.rl.encoding`.

``mlp`` flattens the rows (nearest vehicle first). ``attention`` is the ego-attention network of
Leurent & Mercat (2019), "Social Attention for Autonomous Decision-Making in Dense Traffic": the ego
and each vehicle are embedded separately, and the ego's embedding queries all of them with multi-head
attention; absent vehicles are masked out. Nothing in it depends on the order of the vehicle rows.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from torch import nn


def _embedding(features: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())


class EgoAttentionExtractor(BaseFeaturesExtractor):
    """Ego-attention over the vehicle rows; see the module docstring.

    :param observation_space: a ``(1 + vehicles, features)`` box; row 0 is the ego, column 0 presence.
    :param width: embedding width.
    :param heads: attention heads.
    """

    def __init__(self, observation_space: gym.spaces.Box, width: int = 64, heads: int = 2) -> None:
        super().__init__(observation_space, features_dim=2 * width)
        features = observation_space.shape[-1]
        self.ego_embedding = _embedding(features, width)
        self.vehicle_embedding = _embedding(features, width)
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        ego = self.ego_embedding(observations[:, :1])  # (batch, 1, width)
        vehicles = self.vehicle_embedding(observations[:, 1:])  # (batch, vehicles, width)
        entities = torch.cat([ego, vehicles], dim=1)
        absent = observations[:, :, 0] < 0.5
        absent[:, 0] = False  # the ego always attends to itself, so no row is all masked
        attended, _ = self.attention(ego, entities, entities, key_padding_mask=absent)
        return torch.cat([ego, attended], dim=-1).squeeze(1)


EXTRACTORS: dict[str, type[BaseFeaturesExtractor]] = {
    "mlp": FlattenExtractor,
    "attention": EgoAttentionExtractor,
}
