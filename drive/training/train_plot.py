"""The training curve: validation return, collision rate and speed against environment steps."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sims.files import atomic_path  # noqa: E402


def plot_curve(curve: list[dict[str, float]], path: Path) -> None:
    """Draw the curve into ``path`` (PNG), atomically."""
    steps = [point["steps"] for point in curve]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    panels = (
        ("return", "validation return"),
        ("collision_rate", "collision rate"),
        ("speed_mps", "mean speed [m/s]"),
    )
    for axis, (key, title) in zip(axes, panels, strict=True):
        axis.plot(steps, [point[key] for point in curve], marker="o")
        axis.set_title(title)
        if key == "collision_rate":
            axis.set_ylim(0.0, max(0.1, *(point[key] for point in curve)) * 1.1)
        axis.set_xlabel("environment steps (decisions)")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
