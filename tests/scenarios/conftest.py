"""Where failing scenario episodes leave their video and metrics."""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS = Path(
    os.environ.get(
        "DRIVE_ARTIFACTS", Path(__file__).resolve().parents[2] / "artifacts" / "scenarios"
    )
)
