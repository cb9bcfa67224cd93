"""Small rich tables for the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from drive.runs.comparison import collision_interval, mean_interval, paired_difference
from sims.reading import expect, read_json, refusing
from sims.scenario import Scenario
from sims.strict import ConfigError


def scenarios_table(scenarios: list[Scenario]) -> Table:
    """One row per scenario: id, environment and description with its length and events."""
    table = Table(title="Scenarios", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("env", no_wrap=True)
    table.add_column("description", overflow="fold")
    for scenario in scenarios:
        events = ", ".join(type(event).__name__ for event in scenario.events)
        details = f"{scenario.duration_s:g} s" + (f", events: {events}" if events else "")
        table.add_row(scenario.id, scenario.env, f"{scenario.description} ({details})")
    return table


def aggregate_table(title: str, aggregate: dict[str, Any]) -> Table:
    """The aggregate of a rollout as a two-column table."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in aggregate.items():
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def episodes_table(episodes: list[dict[str, Any]], *, limit: int = 20) -> Table:
    """The first ``limit`` episodes, one row each."""
    table = Table(title="Episodes", title_justify="left")
    columns = [
        ("seed", "seed"),
        ("end", "termination"),
        ("speed (m/s)", "mean_speed_mps"),
        ("distance (m)", "distance_m"),
        ("return", "episode_return"),
        ("lane changes", "lane_changes"),
    ]
    for header, _ in columns:
        table.add_column(header, justify="right")
    for episode in episodes[:limit]:
        table.add_row(*(_format(episode[key]) for _, key in columns))
    return table


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


_BENCH_FIGURES = (
    ("rms_lateral_error_m", "RMS lateral error (m)"),
    ("max_abs_lateral_error_m", "max lateral error (m)"),
    ("overshoot_m", "overshoot (m)"),
    ("settle_time_s", "settle time (s)"),
    ("peak_abs_jerk_mps3", "peak jerk (m/s3)"),
    ("peak_abs_lateral_acceleration_mps2", "peak lateral acc. (m/s2)"),
    ("collided", "collided"),
)


def control_bench_table(document: dict[str, Any]) -> Table:
    """Controllers side by side: solve times, then each manoeuvre's figures."""
    controllers = list(document["controllers"])
    plant = document.get("plant")
    title = "Control benchmark" + (f" on plant '{plant}'" if plant else "")
    table = Table(title=title, title_justify="left")
    table.add_column("manoeuvre")
    table.add_column("figure")
    for name in controllers:
        table.add_column(name, justify="right")
    for key, label in (("solve_ms_median", "median (ms)"), ("solve_ms_p99", "p99 (ms)")):
        table.add_row(
            "control call", label, *(_format(document["controllers"][c][key]) for c in controllers)
        )
    manoeuvres = document["controllers"][controllers[0]]["manoeuvres"]
    for manoeuvre in manoeuvres:
        table.add_section()
        for key, label in _BENCH_FIGURES:
            values = [document["controllers"][c]["manoeuvres"][manoeuvre][key] for c in controllers]
            table.add_row(manoeuvre, label, *(_format(v) for v in values))
    return table


def suite_table(document: dict[str, Any], failed: Any) -> Table:
    """One row per scenario of a suite run: score, verdict, failed predicates and time."""
    table = Table(title="Suite", title_justify="left")
    for column in ("scenario", "env", "score", "passed", "failed predicates", "time (s)"):
        table.add_column(column, overflow="fold")
    for scenario_id, entry in document["scenarios"].items():
        table.add_row(
            scenario_id,
            entry["env"],
            f"{entry['score']:.3f}",
            "yes" if entry["passed"] else "NO",
            "; ".join(failed(entry)) or "-",
            f"{entry['wall_s']:.1f}",
        )
    return table


COMPARISON_COLUMNS = (
    ("planner", "planner"),
    ("controller", "controller"),
    ("episodes", "episodes"),
    ("seeds", "seeds"),
    ("collision_rate", "collision rate"),
    ("collision_interval", "95% interval"),
    ("mean_speed_mps", "mean speed [m/s]"),
    ("speed_interval_mps", "95% interval [m/s]"),
    ("speed_difference_mps", "speed vs first row, paired [m/s]"),
    ("mean_return", "mean return"),
    ("planner_overrides", "safety-layer overrides"),
)


def comparison_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """One row per result file (``drive rollout`` or ``drive baseline eval`` JSON).

    Every row after the first that ran exactly the first one's seeds also gets its speed difference
    to the first, paired episode by episode: the traffic of a seed sets much of an episode's speed,
    so a paired difference can be surer than the two mean speeds' intervals suggest.

    :param paths: the result files; the first is the reference of the paired differences. A path
        ``A.json+B.json`` pools one stack's results over several runs of other seeds into one row.
    :return: one dict per file, keyed as :data:`COMPARISON_COLUMNS`; intervals are ``(low, high)``
        or None where there are fewer than two episodes.
    :raises ConfigError: naming the file, for one that is not a result, has no finished episode,
        or repeats a seed, and for a pool of different stacks.
    """
    rows: list[dict[str, Any]] = []
    reference: dict[int, float] | None = None
    for path in paths:
        row, speeds, collisions = _read_pool(path)
        rows.append(
            {
                **row,
                "episodes": len(speeds),
                "seeds": f"{min(speeds)}..{max(speeds)}",
                "collision_interval": collision_interval(collisions, len(speeds)),
                "speed_interval_mps": mean_interval(list(speeds.values())),
                "speed_difference_mps": (
                    paired_difference(speeds, reference) if reference is not None else None
                ),
            }
        )
        reference = speeds if reference is None else reference
    return rows


def _read_pool(path: Path) -> tuple[dict[str, Any], dict[int, float], int]:
    """:func:`_read_result` of one file, or of the files of a pool ``A.json+B.json`` together: the
    same stack on other seeds, as if one run had driven them all."""
    if path.exists() or "+" not in str(path):
        return _read_result(path)
    parts = [Path(part) for part in str(path).split("+")]
    row, speeds, collisions = _read_result(parts[0])
    returns = [(row["mean_return"], len(speeds))]
    for part in parts[1:]:
        other, other_speeds, other_collisions = _read_result(part)
        for key in ("scenario", "env", "stack"):
            if other["run"].get(key) != row["run"].get(key):
                raise ConfigError(
                    f"{part}: its {key} {other['run'].get(key)} differs from {parts[0]}'s "
                    f"{row['run'].get(key)}; only one stack's runs of one scenario pool"
                )
        if repeated := sorted(speeds.keys() & other_speeds.keys()):
            raise ConfigError(f"{part}: seed {repeated[0]} is also in an earlier file of the pool")
        speeds |= other_speeds
        collisions += other_collisions
        row["sources"] = row["sources"] + other["sources"]
        returns.append((other["mean_return"], len(other_speeds)))
        counts = (row["planner_overrides"], other["planner_overrides"])
        row["planner_overrides"] = sum(counts) if all(isinstance(n, int) for n in counts) else "-"
    pooled_return = (
        None
        if any(value is None for value, _ in returns)
        else sum(value * count for value, count in returns) / len(speeds)
    )
    return (
        {
            **row,
            "collision_rate": collisions / len(speeds),
            "mean_speed_mps": sum(speeds.values()) / len(speeds),
            "mean_return": pooled_return,
        },
        speeds,
        collisions,
    )


def _read_result(path: Path) -> tuple[dict[str, Any], dict[int, float], int]:
    """A result file's summary columns, its episodes' mean speeds by seed, and its collisions."""
    document = read_json(path, "rollout or baseline result")
    if isinstance(document, dict) and document.get("episodes") == []:
        raise ConfigError(f"{path}: no finished episode to compare (an interrupted rollout?)")
    with refusing(path, "rollout or baseline result"):
        config, summary, episodes = document["config"], document["aggregate"], document["episodes"]
        row = {
            "run": {key: config.get(key) for key in ("scenario", "env", "stack")},
            "planner": config["stack"]["planner"],
            "controller": config["stack"]["controller"],
            "collision_rate": float(
                expect(summary["collision_rate"], (int, float), path=path, key="collision_rate")
            ),
            "mean_speed_mps": float(
                expect(summary["mean_speed_mps"], (int, float), path=path, key="mean_speed_mps")
            ),
            "mean_return": summary.get("mean_return"),
            "planner_overrides": summary.get("planner_overrides", "-"),
            "sources": [(str(path), document.get("provenance"))],
        }
        seeds = [expect(episode["seed"], int, path=path, key="seed") for episode in episodes]
        speeds = {
            seed: float(expect(episode["mean_speed_mps"], (int, float), path=path, key="speed"))
            for seed, episode in zip(seeds, episodes, strict=True)
        }
        collisions = sum(bool(episode["collided"]) for episode in episodes)
    if len(speeds) != len(seeds):
        raise ConfigError(f"{path}: a seed appears more than once, so episodes cannot be paired")
    return row, speeds, collisions


def comparison_table(rows: list[dict[str, Any]], *, markdown: bool) -> Table | str:
    """The rows as a rich table, or as Markdown for the README."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, tuple):
            return "[" + ", ".join(cell(bound) for bound in value) + "]"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    if markdown:
        lines = [
            "| " + " | ".join(title for _, title in COMPARISON_COLUMNS) + " |",
            "|" + "---|" * len(COMPARISON_COLUMNS),
        ]
        lines += ["| " + " | ".join(cell(r[k]) for k, _ in COMPARISON_COLUMNS) + " |" for r in rows]
        return "\n".join(lines)
    table = Table(title="Comparison", title_justify="left")
    for _, title in COMPARISON_COLUMNS:
        table.add_column(title, justify="left")
    for row in rows:
        table.add_row(*(cell(row[key]) for key, _ in COMPARISON_COLUMNS))
    return table


def sim_bench_table(document: dict[str, Any]) -> Table:
    """Simulators' policy steps per second, and the batched engine's fidelity checks."""
    road = document.get("env", "highway-v0")
    table = Table(title=f"{road} policy steps per second", title_justify="left")
    for column in ("simulator", "device", "batch", "steps/s", "x highway-env"):
        table.add_column(column, justify="right" if column != "simulator" else "left")
    highway = document["highway_env_steps_per_s"]
    table.add_row("highway-env", "cpu", "1", _format(highway), "1")
    pool = document["envpool"]
    if pool is None and document.get("envpool_note"):
        table.add_row("EnvPool", "", "", document["envpool_note"], "")
    if pool is not None:
        rate = pool["steps_per_s"]
        table.add_row(
            "EnvPool", "cpu", str(pool["num_envs"]), _format(rate), _format(rate / highway)
        )
    for row in document["batched"]:
        rate = row["steps_per_s"]
        table.add_row(
            "batched engine, " + ("compiled" if row.get("compiled") else "eager"),
            row["device"],
            str(row["batch"]),
            _format(rate),
            _format(rate / highway),
        )
    fidelity = document["fidelity"]
    trajectories = fidelity["trajectories"]
    table.add_section()
    table.add_row(
        "fidelity",
        "float64",
        f"{trajectories['episodes']} eps",
        f"{fidelity['episodes_within_tolerance']} within {trajectories['tolerance_m']:g} m",
        f"max {trajectories['max_error_m']:.1e} m",
    )
    for name, row in fidelity["random_policy"]["quantities"].items():
        table.add_row(
            name,
            "highway-env / ours",
            "",
            f"{row['highway_env']['mean']:.3f} / {row['batched']['mean']:.3f}",
            "agree" if row["agree"] else "DIFFER",
        )
    return table


def perception_bench_table(document: dict[str, Any]) -> Table:
    """Perception errors by distance band, the headline figures, throughput and robustness."""
    table = Table(
        title=f"Perception on {document['data']['frames']} held-out frames", title_justify="left"
    )
    for column in ("distance (m)", "vehicles", "recall", "position MAE (m)", "velocity MAE (m/s)"):
        table.add_column(column, justify="right")
    for band in document["bands"]:
        table.add_row(
            f"{band['from_m']:g}-{band['to_m']:g}",
            str(band["vehicles"]),
            _format(band["recall"]),
            _format(band["position_mae_m"]),
            _format(band["velocity_mae_mps"]),
        )
    table.add_section()
    table.add_row(
        "within 50",
        "",
        f"F1 {document['presence_f1']:.3f}",
        _format(document["position_mae_m"]),
        _format(document["velocity_mae_mps"]),
    )
    table.add_row(
        "occupancy",
        "",
        f"IoU {document['occupancy_iou']:.3f}",
        "ego lane",
        _format(document["ego_lane_accuracy"]),
    )
    table.add_section()
    render = document["render_frames_per_s"]
    for row in document["throughput"]:
        table.add_row(
            f"{row['device']} b{row['batch']}",
            "",
            "frames/s",
            _format(row["frames_per_s"]),
            f"{row['frames_per_s'] / render:.1f}x rendering",
        )
    for family, rows in document.get("robustness", {}).items():
        table.add_section()
        for row in rows:
            table.add_row(
                f"{family} {row['size']:g}",
                "",
                f"F1 {row['presence_f1']:.3f}",
                _format(row["position_mae_m"]),
                _format(row["velocity_mae_mps"]),
            )
    return table


VISION_TARGETS = {  # issue 9's done-when figures
    "detector_map50": ">= 0.95",
    "cgan_psnr_db": ">= 25",
    "cgan_ssim": ">= 0.85",
}


def vision_bench_table(document: dict[str, Any]) -> Table:
    """The detector's and the GANs' figures on held-out frames, with their targets."""
    table = Table(
        title=f"Vision modules on {document['frames']} held-out frames", title_justify="left"
    )
    for column in ("figure", "value", "target", "device"):
        table.add_column(column, justify="right" if column == "value" else "left")
    devices = document["device"]
    rows = [
        ("detector_map50", "detector"),
        ("detector_map", "detector"),
        ("detector_frames_per_s", "detector"),
        ("cgan_psnr_db", "cgan"),
        ("cgan_ssim", "cgan"),
        ("cgan_frames_per_s", "cgan"),
        ("baseline_markings_psnr_db", "cgan"),
        ("baseline_markings_ssim", "cgan"),
        ("baseline_painted_psnr_db", "cgan"),
        ("baseline_painted_ssim", "cgan"),
        ("frechet_own_cgan", "frechet"),
        ("frechet_own_dcgan", "frechet"),
        ("frechet_own_shuffled", "frechet"),
    ]
    if document.get("frechet_own_real_reference") is not None:
        rows.append(("frechet_own_real_reference", "frechet"))
    for key, device in rows:
        table.add_row(key, _format(document[key]), VISION_TARGETS.get(key, ""), devices[device])
    ordered = (
        document["frechet_own_cgan"]
        < document["frechet_own_dcgan"]
        < document["frechet_own_shuffled"]
    )
    table.add_section()
    table.add_row("cgan < dcgan < shuffled", "yes" if ordered else "no", "yes", "")
    return table
