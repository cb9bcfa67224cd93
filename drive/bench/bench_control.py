"""``drive bench control``: the MPCs side by side with highway-env's built-in controller.

Every controller drives every manoeuvre on one car (``--plant``, highway-env's vehicle by default):
``mpc`` on the nominal bicycle, ``mpc-learned`` on the model learned on that car.

Figures per controller: wall-clock time of each control call (all Python work included) and, per
manoeuvre of :data:`drive.bench.manoeuvres.MANOEUVRES`:
- ``max_abs_lateral_error_m`` and ``rms_lateral_error_m``: distance from the common reference (the
  target lane's centreline, eased after a lane switch);
- ``overshoot_m``: how far the ego goes past the new lane's centre in a lane change;
- ``settle_time_s``: from the lane switch until within 0.1 m of the new centre for good;
- ``peak_abs_jerk_mps3``, ``peak_abs_lateral_acceleration_mps2``, ``peak_abs_yaw_rate_radps``,
  ``peak_abs_acceleration_mps2``: comfort, from the simulated motion;
- ``collided``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from control.mpc import MpcConfig
from control.registry import controller_files, make_controller
from drive.bench.manoeuvres import MANOEUVRES, ManoeuvreRun, manoeuvre_metrics, run_manoeuvre
from drive.episode.scoring import COMFORT_BOUNDS
from sims.machine import machine_description
from sims.plants import DEFAULT_PLANT
from sims.provenance import package_versions, provenance

CONTROLLERS = ("mpc", "mpc-learned", "builtin", "tracker")
MPC_CONTROLLERS = ("mpc", "mpc-learned")  # those with a horizon


def run_control_bench(
    *, on_run: Any = None, plant: str = DEFAULT_PLANT
) -> tuple[dict[str, Any], dict[str, dict[str, ManoeuvreRun]]]:
    """Run every manoeuvre with every controller on the car ``plant``; return the JSON document
    and the raw runs.

    :param on_run: called as ``on_run(controller, manoeuvre)`` after each run (progress bars).
    :param plant: a name of :data:`sims.plants.PLANTS`.
    """
    for controller in CONTROLLERS:  # fail now on a car a controller cannot drive
        make_controller(controller, dt_s=0.1, plant=plant)
    runs: dict[str, dict[str, ManoeuvreRun]] = {}
    document: dict[str, Any] = {
        "machine": machine_description(),
        "versions": package_versions(),
        "provenance": provenance(
            [path for name in CONTROLLERS for path in controller_files(name, plant)]
        ),
        "nuplan_comfort_bounds": COMFORT_BOUNDS,
        "plant": plant,
        "controllers": {},
    }
    for controller in CONTROLLERS:
        runs[controller] = {}
        solve_ms: list[np.ndarray] = []
        manoeuvres: dict[str, Any] = {}
        for name, manoeuvre in MANOEUVRES.items():
            run = run_manoeuvre(manoeuvre, controller, plant=plant)
            runs[controller][name] = run
            solve_ms.append(run.solve_ms)
            manoeuvres[name] = manoeuvre_metrics(run)
            if on_run is not None:
                on_run(controller, name)
        all_ms = np.concatenate(solve_ms)
        document["controllers"][controller] = {
            "solve_ms_median": round(float(np.median(all_ms)), 4),
            "solve_ms_p99": round(float(np.percentile(all_ms, 99)), 4),
            "horizon_steps": MpcConfig().horizon_steps if controller in MPC_CONTROLLERS else None,
            "manoeuvres": manoeuvres,
        }
    return document, runs


def plot_lane_changes(
    runs: dict[str, dict[str, ManoeuvreRun]], path: Path, *, plant: str = DEFAULT_PLANT
) -> Path:
    """Lateral offset and lateral acceleration of every controller in the 30 m/s lane change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from drive.episode.trajectory import lateral_acceleration

    figure, (offset_axis, lateral_axis) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for controller, by_name in runs.items():
        run = by_name["lane_change_30"]
        offset_axis.plot(run.time_s, run.y_m, label=controller)
        lateral_axis.plot(
            run.time_s[1:],
            lateral_acceleration(run.speed_mps, run.heading_rad, run.dt_s),
            label=controller,
        )
    offset_axis.axhline(0.0, color="grey", linewidth=0.8)
    offset_axis.set_ylabel("y [m]: new lane at 0, old at 4")
    offset_axis.set_title(
        f"Lane change at 30 m/s on highway-env, plant '{plant}' (plan switches lanes at t = 1 s)"
    )
    offset_axis.legend()
    for bound in (-4.89, 4.89):
        lateral_axis.axhline(bound, color="red", linestyle="--", linewidth=0.8)
    lateral_axis.set_ylabel("lateral acceleration [m/s2]")
    lateral_axis.set_xlabel("time [s]")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.png")
    figure.savefig(partial, dpi=110)
    plt.close(figure)
    partial.replace(path)
    return path
