"""Run a sweep's trials with Ray Tune (:mod:`drive.training.sweep` reads the file and the results).

Each trial is one ``drive train`` run, in its own folder, on one CPU of the Ray instance or cluster
(``--ray``). Tune reports the validation return after each validation, shows the progress table,
stops the trailing trials early (ASHA) where the sweep asks, and saves its state in ``OUT/tune`` so
that ``--resume`` restores it after a kill.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drive.training.sweep import SweepConfig, setting_label, trial_name
from drive.training.train_planner import Run, train
from sims.parallel import Workers, connect, ray_module
from sims.strict import ConfigError

METRIC = "return"  # the validation return, as drive train keeps its best policy by


def run_trial(parameters: dict[str, Any], *, sweep: SweepConfig, out: str) -> None:
    """One trial in a Tune worker: ``drive train`` in the trial's folder, resumed if it is there.

    :param parameters: Tune's draw: ``{"setting": its label, "seed": seed}``.
    :param sweep: the sweep.
    :param out: the sweep's folder (absolute: Tune changes the worker's directory).
    """
    import torch
    from ray import tune

    torch.set_num_threads(1)  # one CPU per trial
    setting = {setting_label(s): s for s in sweep.settings}[parameters["setting"]]
    config = sweep.trial_config(setting, parameters["seed"])
    folder = Path(out) / "trials" / trial_name(setting, parameters["seed"])
    run = Run(folder)
    resume = run.last.exists()
    if resume and (state := run.load_state()).curve:
        tune.report(_metrics(state.curve[-1]))  # where the trial stood, for the scheduler
    train(
        config,
        folder,
        resume=resume,
        command=f"drive sweep (trial {folder.name})",
        on_validation=lambda point: tune.report(_metrics(point)),
    )


def _metrics(point: dict[str, float]) -> dict[str, float]:
    return {
        "steps": point["steps"],
        METRIC: point["return"],
        "collision_rate": point["collision_rate"],
        "speed_mps": point["speed_mps"],
    }


def run_sweep(
    sweep: SweepConfig,
    out: Path,
    *,
    workers: Workers,
    resume: bool,
    on_line: Callable[[str], None] = print,
) -> None:
    """Run (or resume) every trial of ``sweep`` with Tune; the trials' folders hold the results.

    :param sweep: the sweep.
    :param out: its folder.
    :param workers: where the trials run: a local Ray with ``processes`` CPUs, or a cluster.
    :param resume: restore the sweep killed in ``out``; without it ``out`` must hold none.
    :param on_line: where the progress lines go.
    """
    ray = ray_module()
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    out = out.resolve()
    experiment = out / "tune"
    if experiment.exists() and not resume:
        raise ConfigError(f"{out} already holds a sweep; pass --resume or choose another --out")
    if resume and not tune.Tuner.can_restore(str(experiment)):
        raise ConfigError(f"{out}: nothing to resume (no Tune state in {experiment})")
    started_here = not ray.is_initialized()
    if started_here:
        connect(Workers(workers.processes, workers.ray or "local"))
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, sweep=sweep, out=str(out)), {"cpu": 1}
        )
        if resume:
            tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_errored=True)
        else:
            scheduler = (
                FIFOScheduler()
                if sweep.grace_steps is None
                else ASHAScheduler(
                    time_attr="steps",
                    max_t=sweep.steps,
                    grace_period=sweep.grace_steps,
                    reduction_factor=2,
                )
            )
            tuner = tune.Tuner(
                trainable,
                param_space={
                    "setting": tune.grid_search([setting_label(s) for s in sweep.settings]),
                    "seed": tune.grid_search(list(sweep.seeds)),
                },
                tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=scheduler),
                run_config=tune.RunConfig(name="tune", storage_path=str(out), verbose=1),
            )
        results = tuner.fit()
        for index in range(len(results)):
            result = results[index]
            if result.error is not None:
                on_line(f"trial {result.config} failed: {result.error}")
    finally:
        if started_here:
            ray.shutdown()
