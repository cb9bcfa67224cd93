"""Fixtures shared by the tests of the batched engine's road networks."""

from __future__ import annotations

import gymnasium as gym
import highway_env  # noqa: F401  (registers the environments)
import pytest

from sims.batched.network_fidelity import NETWORK_ENVIRONMENTS
from sims.environments import restore_behaviour_defaults


@pytest.fixture(scope="module", params=list(NETWORK_ENVIRONMENTS))
def network(request):
    """The road network of each road the engine drives, as highway-env builds it (seed 0)."""
    env = gym.make(request.param)
    env.reset(seed=0)
    net = env.unwrapped.road.network
    env.close()
    restore_behaviour_defaults()  # intersection-v0 edits highway-env's traffic constants
    return net
