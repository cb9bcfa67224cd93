"""Shared fixtures: small scenarios and scene builders."""

from __future__ import annotations

import os
import tempfile

import pytest

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
