"""Shared fixtures: small scenarios and scene builders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from drive.runs.frame_dataset import generate
from sims.dataset import DatasetConfig
from tests.helpers import VISION_FRAMES

# SDL under pygame's offscreen rendering warns on stderr without a runtime dir; give it one.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="drive-xdg-"))


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario TOML into a temporary folder and return its path."""

    def write(text: str, name: str = "custom.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture(scope="session")
def vision_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short episode of small frames with scene records, generated once per test process
    and shared read-only by the detector, GAN and vision-command tests."""
    folder = tmp_path_factory.mktemp("vision") / "data"
    config = DatasetConfig(
        scenario="lead-brake-close", episodes=1, sample_every_steps=15, frames=VISION_FRAMES
    )
    generate(config, folder)
    return folder
