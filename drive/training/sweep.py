"""``drive sweep SWEEP.toml``: ``drive train`` over settings and seeds, run by Ray Tune.

A sweep file names the fixed ``drive train`` settings (``[train]``), the settings to vary
(``[grid]``: every combination; or ``[random]``: ``samples`` draws, each a range or a choice, drawn
from ``search_seed`` so that a sweep is the same trials every time), the ``seeds`` every setting is
trained with, and optionally early stopping (``grace_steps``: Tune's ASHA stops the trials whose
validation return trails the others' once they have trained that many steps)::

    seeds = [0, 1, 2]
    grace_steps = 512
    [train]
    sim = "batched"
    steps = 1024
    [grid]
    extractor = ["mlp", "attention"]

Each trial is a ``drive train`` run in ``OUT/trials/NAME`` (its checkpoints, cards, curve), so a
killed sweep resumes where each trial stopped: Tune restores its own state from ``OUT/tune``, and a
trial it starts again continues the run in its folder. The table gives, per setting, the mean over
seeds of the best validation return with its 95% interval (Student's t); the best trial's best
policy is copied to ``OUT/best``.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from drive.training.train_config import TrainConfig
from drive.training.train_planner import Run
from sims.files import write_json
from sims.provenance import provenance
from sims.reading import read_toml
from sims.strict import ConfigError, check_keys

SWEEP_KEYS = ("seeds", "search_seed", "samples", "grace_steps", "train", "grid", "random")
NOT_SWEPT = ("seed", "margins")  # the seeds have their own key; margins are a table of their own


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: fixed settings, the settings of each trial group, and the seeds of each.

    :param fixed: ``drive train`` settings shared by every trial, as (name, value).
    :param settings: each group's varied settings, as (name, value) pairs.
    :param seeds: every setting is trained once per seed.
    :param grace_steps: early stopping (ASHA) after this many steps; None: none stopped.
    """

    fixed: tuple[tuple[str, Any], ...]
    settings: tuple[tuple[tuple[str, Any], ...], ...]
    seeds: tuple[int, ...]
    grace_steps: int | None = None

    def trial_config(self, setting: tuple[tuple[str, Any], ...], seed: int) -> TrainConfig:
        """The ``drive train`` config of one trial."""
        return TrainConfig(**{**dict(self.fixed), **dict(setting), "seed": seed})

    @property
    def steps(self) -> int:
        """Steps each trial trains for (unless stopped early)."""
        return self.trial_config(self.settings[0], self.seeds[0]).steps


def load_sweep(path: Path) -> SweepConfig:
    """Read and check a sweep file; every trial's config is built once, so a bad value fails here.

    :param path: the TOML file.
    :return: the sweep.
    :raises ConfigError: one line naming the file and the bad key or value.
    """
    document = read_toml(path)
    check_keys(document, SWEEP_KEYS, location=path.name)
    names = [f.name for f in fields(TrainConfig) if f.name not in NOT_SWEPT]
    fixed = dict(_table(document, "train", path))
    grid, drawn = _table(document, "grid", path), _table(document, "random", path)
    for table, name in ((fixed, "train"), (grid, "grid"), (drawn, "random")):
        check_keys(table, names, location=f"{path.name} [{name}]")
    if grid and drawn:
        raise ConfigError(f"{path.name}: give [grid] or [random], not both")
    seeds = document.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) and s >= 0 for s in seeds):
        raise ConfigError(f"{path.name}: seeds must be a list of integers >= 0, got {seeds!r}")
    if grid:
        settings = _grid(grid, path)
    elif drawn:
        settings = _draws(drawn, document.get("samples", 4), document.get("search_seed", 0), path)
    else:
        settings = [()]
    grace = document.get("grace_steps")
    if grace is not None and (not _is_int(grace) or grace < 1):
        raise ConfigError(f"{path.name}: grace_steps must be an integer >= 1, got {grace!r}")
    sweep = SweepConfig(tuple(fixed.items()), tuple(settings), tuple(seeds), grace)
    for setting in sweep.settings:
        try:
            sweep.trial_config(setting, sweep.seeds[0])
        except (ValueError, TypeError) as error:
            raise ConfigError(f"{path.name}: trial {dict(setting)}: {error}") from None
    return sweep


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _table(document: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = document.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path.name}: [{name}] must be a table, got {table!r}")
    return table


def _grid(grid: dict[str, Any], path: Path) -> list[tuple[tuple[str, Any], ...]]:
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path.name} [grid] key '{name}': expected a list of values")
    names = sorted(grid)
    return [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(grid[n] for n in names))
    ]


def _draws(
    drawn: dict[str, Any], samples: Any, search_seed: Any, path: Path
) -> list[tuple[tuple[str, Any], ...]]:
    """``samples`` settings, each value uniform in ``{low, high}`` or one of ``{choice = [...]}``."""
    if not _is_int(samples) or samples < 1 or not _is_int(search_seed):
        raise ConfigError(f"{path.name}: samples (>= 1) and search_seed must be integers")
    generator = np.random.default_rng(search_seed)
    settings = []
    for _ in range(samples):
        setting = []
        for name in sorted(drawn):
            space, location = drawn[name], f"{path.name} [random] key '{name}'"
            if not isinstance(space, dict) or set(space) not in ({"low", "high"}, {"choice"}):
                raise ConfigError(
                    f"{location}: expected {{low = A, high = B}} or {{choice = [...]}}"
                )
            if "choice" in space:
                if not isinstance(space["choice"], list) or not space["choice"]:
                    raise ConfigError(f"{location}: choice must be a non-empty list")
                value = space["choice"][int(generator.integers(len(space["choice"])))]
            else:
                value = round(float(generator.uniform(space["low"], space["high"])), 6)
            setting.append((name, value))
        settings.append(tuple(setting))
    return settings


def setting_label(setting: tuple[tuple[str, Any], ...]) -> str:
    """A setting as the progress table shows it, e.g. ``extractor=mlp``."""
    return ",".join(f"{name}={value}" for name, value in setting) or "fixed"


def trial_name(setting: tuple[tuple[str, Any], ...], seed: int) -> str:
    """A trial's folder name: its varied settings and seed, e.g. ``extractor=mlp,seed=0``."""
    text = ",".join([*(f"{name}={value}" for name, value in setting), f"seed={seed}"])
    return re.sub(r"[^A-Za-z0-9=,._-]", "_", text)


def t_quantile(degrees: int) -> float:
    """The two-sided 95% quantile of Student's t with ``degrees`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, degrees))


def interval(values: list[float]) -> dict[str, Any]:
    """Mean and 95% interval (Student's t) of ``values``; no interval from one value."""
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": round(mean, 4), "ci95": None, "n": len(values)}
    half = t_quantile(len(values) - 1) * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return {
        "mean": round(mean, 4),
        "ci95": [round(mean - half, 4), round(mean + half, 4)],
        "n": len(values),
    }


def summarise(sweep: SweepConfig, out: Path) -> dict[str, Any]:
    """The sweep's table from its trials' folders, and the best policy copied to ``OUT/best``.

    :param sweep: the sweep.
    :param out: its folder.
    :return: the JSON document (also written to ``OUT/sweep.json``).
    """
    trials: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for setting in sweep.settings:
        returns, collisions, speeds = [], [], []
        for seed in sweep.seeds:
            folder = out / "trials" / trial_name(setting, seed)
            run = Run(folder)
            if not run.state.exists():
                continue
            state = run.load_state()
            if not state.curve:
                continue
            best = max(state.curve, key=lambda point: point["return"])
            trials.append(
                {
                    "setting": dict(setting),
                    "seed": seed,
                    "folder": str(folder),
                    "steps": state.curve[-1]["steps"],
                    "stopped_early": state.curve[-1]["steps"] < sweep.steps,
                    "best": best,
                    "curve": state.curve,
                }
            )
            returns.append(best["return"])
            collisions.append(best["collision_rate"])
            speeds.append(best["speed_mps"])
        if returns:
            rows.append(
                {
                    "setting": dict(setting),
                    "best_return": interval(returns),
                    "collision_rate": interval(collisions),
                    "speed_mps": interval(speeds),
                }
            )
    document: dict[str, Any] = {
        "fixed": dict(sweep.fixed),
        "seeds": list(sweep.seeds),
        "grace_steps": sweep.grace_steps,
        "table": rows,
        "trials": trials,
        "complete": len(trials) == len(sweep.settings) * len(sweep.seeds),
        "provenance": provenance(),  # the commit and package versions behind these figures
    }
    if trials:
        best_trial = max(trials, key=lambda trial: trial["best"]["return"])
        destination = out / "best"
        destination.mkdir(parents=True, exist_ok=True)
        source = Run(Path(best_trial["folder"])).best
        for path in (source, source.with_suffix(".json")):
            shutil.copyfile(path, destination / path.name)
        document["best"] = {key: best_trial[key] for key in ("setting", "seed", "folder", "best")}
    write_json(out / "sweep.json", document)
    return document
