"""``drive train``: train a deep-RL planner with Stable-Baselines3 in the planning environment.

Training runs ``envs`` planning environments in worker processes. Every ``eval_every`` steps the
current policy drives held-out validation seeds through ``drive rollout``'s own machinery (the MPC,
the safety layer, the metrics), the curve PNG is redrawn, and the best policy so far is kept. Every
``checkpoint_every`` steps, on Ctrl-C and on a crash, the last policy, its replay buffer and the
training state are saved, so ``--resume`` continues where the run stopped.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from drive.training.planning_env import EnvConfig, PlanningEnv
from drive.training.train_config import TrainConfig
from drive.training.train_models import build_model
from drive.training.train_plot import plot_curve
from drive.training.validation import validate_batched, validate_on_roads
from planning.rl.checkpoint import ALGORITHMS, PolicyCard, card_margins, read_card, save_policy
from sims.files import atomic_path, remove_temporaries, write_json
from sims.strict import ConfigError


@dataclass
class TrainState:
    """What a resumed run needs besides the policy: the curve so far, the best score, wall time."""

    curve: list[dict[str, float]] = field(default_factory=list)
    best_return: float | None = None
    train_wall_s: float = 0.0


class Run:
    """The files of one training run under ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.last = out / "last" / "policy.zip"
        self.best = out / "best" / "policy.zip"
        self.candidate = out / "candidate" / "policy.zip"
        self.replay_buffer = out / "last" / "replay_buffer.pkl"
        self.state = out / "state.json"
        self.curve_png = out / "curve.png"
        self.tensorboard = out / "tensorboard"

    def load_state(self) -> TrainState:
        from sims.reading import read_json, refusing

        document = read_json(self.state, "training state")
        with refusing(self.state, "training state"):
            return TrainState(**document)


def train(
    config: TrainConfig,
    out: Path,
    *,
    resume: bool,
    command: str,
    on_progress: Any = None,
    on_validation: Any = None,
) -> TrainState:
    """Train, evaluate and checkpoint as the module docstring says; return the final state.

    :param config: the run.
    :param out: the run's folder.
    :param resume: continue the run saved in ``out``; without it ``out`` must hold no run.
    :param command: the command line, recorded in every policy card.
    :param on_progress: called as ``on_progress(steps, status)`` after every step.
    :param on_validation: called with each new point of the validation curve.
    """
    run = Run(out)
    if run.last.exists() and not resume:
        raise ConfigError(
            f"{out} already holds a training run; pass --resume or choose another --out"
        )
    if resume and not run.last.exists():
        raise ConfigError(f"{out}: nothing to resume (no {run.last})")
    if resume:
        remove_temporaries(out)  # what the interrupted run was writing when killed
    if resume and (trained := read_card(run.last).executor_config) != config.executor_config:
        raise ConfigError(
            f"{out} was trained with {trained}; resume it with the same car following, time gap "
            "and safety margins"
        )
    env = _vector_env(config)
    try:
        if resume:
            model = ALGORITHMS[config.algo].load(run.last, env=env, device=config.device)
            if isinstance(model, OffPolicyAlgorithm) and run.replay_buffer.exists():
                model.load_replay_buffer(run.replay_buffer)
            state = run.load_state()
        else:
            model = build_model(config, env, run.tensorboard)
            state = TrainState()
        monitor = TrainingMonitor(
            config,
            run,
            state,
            command=command,
            on_progress=on_progress,
            on_validation=on_validation,
        )
        try:
            with _stop_on_interrupt(monitor):
                model.learn(
                    total_timesteps=max(0, config.steps - model.num_timesteps),
                    callback=monitor,
                    reset_num_timesteps=not resume,
                    tb_log_name=f"{config.algo}-{config.extractor}",
                )
            if monitor.stop_requested:
                raise KeyboardInterrupt
            if not state.curve or state.curve[-1]["steps"] < model.num_timesteps:
                monitor.evaluate()
        finally:
            monitor.save_last()  # on success, Ctrl-C or a crash alike
    finally:
        env.close()
    return state


@contextmanager
def _stop_on_interrupt(monitor: TrainingMonitor) -> Iterator[None]:
    """The first Ctrl-C asks training to stop after the current step; a second one stops it now.

    A ``KeyboardInterrupt`` raised while the parent waits on its worker processes' pipes would leave
    them mid-message, and closing them could then block for ever; stopping between steps cannot.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # a trial of drive sweep, in a Tune worker's thread: Tune stops it, not Ctrl-C
        return
    previous = signal.getsignal(signal.SIGINT)

    def request_stop(signum: int, frame: Any) -> None:
        if monitor.stop_requested:
            raise KeyboardInterrupt
        monitor.stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _vector_env(config: TrainConfig) -> VecEnv:
    if config.sim == "batched" and config.interface == "road":
        from drive.training.validation import road_specs
        from planning.rl.roads_vecenv import RoadVecEnv

        specs = road_specs(config.scenario)
        roads = RoadVecEnv(
            specs,
            envs_per_road=config.envs // len(specs),
            seed=config.seed,
            executor_config=config.executor_config,
        )
        roads.seed(config.seed)
        return roads
    if config.sim == "batched":
        from planning.rl.batched import PlanningVecEnv

        batched = PlanningVecEnv(
            config.envs,
            seed=config.seed,
            safety_layer=config.safety_layer,
            executor_config=config.executor_config,
        )
        batched.seed(config.seed)
        return batched
    make = partial(
        PlanningEnv,
        EnvConfig(
            scenario=config.scenario,
            controller=config.controller,
            safety_layer=config.safety_layer,
            executor_config=config.executor_config,
            interface=config.interface,
        ),
    )
    if config.envs == 1:
        env: VecEnv = DummyVecEnv([make])
    else:  # 'spawn': workers free of the parent's pygame and torch state
        # Workers start with Ctrl-C ignored (it survives their exec), so a Ctrl-C at the terminal
        # reaches the parent only, which stops between steps (see _stop_on_interrupt).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            env = SubprocVecEnv([make] * config.envs, start_method="spawn")
        finally:
            signal.signal(signal.SIGINT, previous)
    env.seed(config.seed)
    return env


class TrainingMonitor(BaseCallback):
    """Progress, running statistics, periodic validation, best and last checkpoints."""

    def __init__(
        self,
        config: TrainConfig,
        run: Run,
        state: TrainState,
        *,
        command: str,
        on_progress: Any,
        on_validation: Any,
    ) -> None:
        super().__init__()
        self.config, self.run, self.state = config, run, state
        self.command, self.on_progress, self.on_validation = command, on_progress, on_validation
        self.recent: list[tuple[bool, float]] = []
        self.stop_requested = False  # set by the first Ctrl-C
        self.started = time.perf_counter()
        self.wall_at_start = state.train_wall_s

    def _on_training_start(self) -> None:
        done = self.num_timesteps
        # The validation after the last one the run recorded: a run killed after a checkpoint but
        # before the validation due then resumes with that validation (issue 33's kill tests).
        validated = self.state.curve[-1]["steps"] if self.state.curve else 0
        self.next_eval = (validated // self.config.eval_every + 1) * self.config.eval_every
        self.next_checkpoint = (
            done // self.config.checkpoint_every + 1
        ) * self.config.checkpoint_every

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode_crashed" in info:
                self.recent = [
                    *self.recent[-49:],
                    (info["episode_crashed"], info["episode_mean_speed_mps"]),
                ]
        if self.on_progress is not None:
            self.on_progress(self.num_timesteps, self.status())
        # Validate before the checkpoint of the same step: a run killed while validating then
        # resumes from an earlier checkpoint and validates at this step again.
        if self.num_timesteps >= self.next_eval:
            self.evaluate()
            self.next_eval += self.config.eval_every
        if self.num_timesteps >= self.next_checkpoint:
            self.save_last()
            self.next_checkpoint += self.config.checkpoint_every
        return not self.stop_requested

    def status(self) -> str:
        if not self.recent:
            return "no episode finished yet"
        crashes = sum(crashed for crashed, _ in self.recent) / len(self.recent)
        speed = sum(speed for _, speed in self.recent) / len(self.recent)
        return f"last {len(self.recent)} episodes: collisions {crashes:.0%}, speed {speed:.1f} m/s"

    def card(self, validation: dict[str, Any]) -> PolicyCard:
        return PolicyCard(
            algo=self.config.algo,
            extractor=self.config.extractor,
            scenario=self._trained_in(),
            controller=(
                f"sims.batched following ego ({self.config.car_following}, highway-env steering)"
                if self.config.sim == "batched"
                else self.config.controller
            ),
            env_steps=int(self.num_timesteps),
            seed=self.config.seed,
            command=self.command,
            train_wall_s=round(self.wall_s(), 1),
            validation=validation,
            car_following=self.config.car_following,
            time_gap_s=self.config.time_gap_s,
            safety_margins=card_margins(self.config.margins),
            interface=self.config.interface,
            lateral_acceleration_mps2=self.config.lateral_acceleration_mps2,
        )

    def _trained_in(self) -> str:
        where = f"{self.config.scenario} (sims.batched)" if self.config.sim == "batched" else ""
        layer = ", safety layer on" if self.config.safety_layer else ""
        return (where or self.config.scenario) + layer

    def wall_s(self) -> float:
        return self.wall_at_start + time.perf_counter() - self.started

    def save_last(self) -> None:
        self.state.train_wall_s = self.wall_s()
        save_policy(self.model, self.card({}), self.run.last)
        if isinstance(self.model, OffPolicyAlgorithm):
            with atomic_path(self.run.replay_buffer) as temporary:
                self.model.save_replay_buffer(temporary)
        write_json(self.run.state, asdict(self.state))

    def evaluate(self) -> None:
        """Drive the validation seeds with the current policy; keep it if it is the best so far."""
        point = {"steps": int(self.num_timesteps), "wall_s": round(self.wall_s(), 1)}
        point.update(self._validate())
        self.state.curve.append(point)
        for key in ("return", "collision_rate", "speed_mps"):
            self.logger.record(f"validation/{key}", point[key])
        if self.state.best_return is None or point["return"] > self.state.best_return:
            self.state.best_return = float(point["return"])
            save_policy(self.model, self.card(point), self.run.best)
        plot_curve(self.state.curve, self.run.curve_png)
        write_json(self.run.state, asdict(self.state))
        if self.on_validation is not None:
            self.on_validation(point)

    def _validate(self) -> dict[str, float]:
        """Return, collision rate and speed of the current policy on the validation seeds."""
        if self.config.sim == "batched":
            return validate_batched(
                self.config,
                lambda observation: self.model.predict(observation, deterministic=True)[0],
            )
        save_policy(self.model, self.card({}), self.run.candidate)
        return validate_on_roads(self.config, self.run.candidate)


def best_card(out: Path) -> PolicyCard:
    """The card of the best policy of the run in ``out``."""
    return read_card(Run(out).best)


def ship(out: Path, destination: Path) -> None:
    """Copy the best policy of the run in ``out`` and its card to ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    run = Run(out)
    for source in (run.best, run.best.with_suffix(".json")):
        shutil.copyfile(source, destination / source.name)
