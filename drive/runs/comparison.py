"""How sure a comparison of planners is: 95% intervals, and the speed-against-collisions picture.

A collision rate from 100 episodes is a count, and small counts are uncertain: 1 crash in 100 is
consistent with a true rate anywhere from 0.2% to 5.4%. Its interval is Wilson's score interval
(scipy's), which stays inside [0, 1] and is sound at 0 crashes, unlike the normal approximation.
A mean speed's interval is Student's t over the episodes' mean speeds, and so is that of a speed
difference paired seed by seed. scipy is imported where it is used: every ``drive`` command imports
this module, and most never compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sims.files import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CONFIDENCE = 0.95  # of every interval in a comparison


@dataclass(frozen=True)
class PairedDifference:
    """A mean speed difference [m/s] over the same seeds, with its 95% interval."""

    mean_mps: float
    low_mps: float
    high_mps: float

    def __str__(self) -> str:
        return f"{self.mean_mps:+.3f} [{self.low_mps:+.3f}, {self.high_mps:+.3f}]"


def collision_interval(collisions: int, episodes: int) -> tuple[float, float]:
    """Wilson's 95% interval for a collision rate.

    :param collisions: episodes that ended in a collision.
    :param episodes: episodes run, >= 1.
    :return: (low, high), both in [0, 1].
    """
    from scipy import stats

    interval = stats.binomtest(collisions, episodes).proportion_ci(
        confidence_level=CONFIDENCE, method="wilson"
    )
    return float(interval.low), float(interval.high)


def mean_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """Student's t 95% interval for the mean of ``values``.

    :param values: one value per episode (a mean speed [m/s], or a difference of two).
    :return: (low, high) in the values' unit, or None for fewer than two values, which have none.
    """
    from scipy import stats

    if len(values) < 2:
        return None
    mean = float(np.mean(values))
    half = float(stats.sem(values)) * float(stats.t.ppf((1 + CONFIDENCE) / 2, len(values) - 1))
    return mean - half, mean + half


def paired_difference(
    speeds_mps: dict[int, float], reference_mps: dict[int, float]
) -> PairedDifference | None:
    """How much faster ``speeds_mps`` drove than ``reference_mps``, seed by seed.

    :param speeds_mps: each episode's mean speed [m/s], by seed.
    :param reference_mps: the same for the reference.
    :return: the mean difference and its interval, or None unless both ran the same seeds (at least
        two of them).
    """
    if speeds_mps.keys() != reference_mps.keys():
        return None
    differences = [speeds_mps[seed] - reference_mps[seed] for seed in reference_mps]
    interval = mean_interval(differences)
    if interval is None:
        return None
    return PairedDifference(float(np.mean(differences)), *interval)


def plot_comparison(rows: list[dict[str, Any]], path: Path) -> None:
    """Draw :func:`comparison_figure` into ``path`` (PNG), atomically."""
    import matplotlib.pyplot as plt

    figure = comparison_figure(rows)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)


def comparison_figure(rows: list[dict[str, Any]]) -> Figure:
    """Each row's mean speed against its collision rate, with both intervals.

    Better planners sit up and to the left. The collision axis is linear up to 0.05, then
    logarithmic.

    :param rows: from :func:`drive.cli.report.comparison_rows`.
    :return: the figure, one labelled point per row.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no window, whatever the machine has
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 4.8))
    for k, row in enumerate(rows):
        rate, speed = row["collision_rate"], row["mean_speed_mps"]
        rate_low, rate_high = row["collision_interval"]
        speed_low, speed_high = row["speed_interval_mps"] or (speed, speed)
        axis.errorbar(
            rate,
            speed,
            xerr=[[rate - rate_low], [rate_high - rate]],
            yerr=[[speed - speed_low], [speed_high - speed]],
            fmt="os^Dv<>ph*"[k // 10 % 10],  # a new marker after each round of the 10 colours
            capsize=3,
            label=row["planner"],
        )
    episodes = sorted({row["episodes"] for row in rows})
    axis.set_xlabel(f"collision rate, Wilson {CONFIDENCE:.0%} interval (linear to 0.05, then log)")
    axis.set_ylabel(f"mean speed [m/s], t {CONFIDENCE:.0%} interval")
    axis.set_title(
        f"Speed against collisions, {'/'.join(map(str, episodes))} episodes each", fontsize=10
    )
    # Linear up to 5% and logarithmic beyond, so that 0, 1 and 3 crashes in 100 stay apart when a
    # planner that crashes half the time is on the same plot.
    axis.set_xscale("symlog", linthresh=0.05, linscale=2.0)
    ticks = [0.0, 0.01, 0.02, 0.03, 0.05, 0.2, 0.5, 1.0]
    axis.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    axis.set_xlim(-0.005, 1.0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figure.tight_layout()
    return figure


def describe_provenance(record: dict[str, Any] | None) -> str:
    """One line on where a result came from: its commit and the hashes of the files it loaded."""
    if not isinstance(record, dict):
        return "no provenance recorded"
    commit = str(record.get("commit") or "no git checkout")[:12]
    dirty = " (dirty tree)" if record.get("dirty") else ""
    files = record.get("files") or {}
    loaded = ", ".join(f"{Path(name).name} {str(digest)[:12]}" for name, digest in files.items())
    return f"commit {commit}{dirty}; " + (f"sha256 {loaded}" if loaded else "no weights loaded")


def provenance_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """A warning for each file compared as the same stack as an earlier one (same scenario,
    perception, planner and controller names, or pooled with it) whose commit, tree, package
    versions or loaded files' hashes differ: the same name may then be another policy.

    :param rows: from :func:`drive.cli.report.comparison_rows`, each with its ``sources``.
    :return: one line per file that differs from the first file of its stack.
    """
    warnings = []
    first: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for row in rows:
        key = repr(sorted((row["run"] or {}).items(), key=str))
        for path, record in row["sources"]:
            if key not in first:
                first[key] = (path, record)
                continue
            earlier_path, earlier = first[key]
            if not isinstance(record, dict) or not isinstance(earlier, dict):
                missing = path if not isinstance(record, dict) else earlier_path
                other = earlier_path if missing == path else path
                warnings.append(
                    f"{missing} records no provenance: whether it ran the same stack "
                    f"(planner {row['planner']}) as {other} cannot be told"
                )
                continue
            differ = [
                what
                for what in ("commit", "dirty", "versions", "files")
                if record.get(what) != earlier.get(what)
            ]
            if differ:
                warnings.append(
                    f"{path} and {earlier_path} are compared as the same stack "
                    f"(planner {row['planner']}) but differ in {', '.join(differ)}"
                )
    return warnings
