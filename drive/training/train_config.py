"""``drive train``'s configuration: one training run of a deep-RL planner, checked as it is made."""

from __future__ import annotations

from dataclasses import dataclass

from drive.training.planning_env import scenario_names
from planning.rl.checkpoint import ALGORITHMS
from planning.rl.executor import TIME_GAP_S, ExecutorConfig, SafetyMargins
from planning.rl.extractors import EXTRACTORS
from planning.rl.interface import interface_of
from sims.batched.physics import ENGINE_CAR_FOLLOWING
from sims.plants import DEFAULT_PLANT
from sims.scenario import load_scenario
from sims.strict import ConfigError, described


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``steps`` counts planner decisions over all environments."""

    scenario: str = described(
        "highway", "Scenario id to train in, or several separated by commas (one road an episode)."
    )
    interface: str = described(
        "highway",
        "What the policy sees and decides: highway (lanes, cruise speed) or road (also yield or "
        "go at junctions, and the road ahead in its observation).",
    )
    algo: str = described("dqn", "dqn, qrdqn (quantile regression) or ppo.")
    extractor: str = described("attention", "mlp or attention.")
    steps: int = described(20_000, "Planner decisions, all environments.", minimum=1)
    envs: int = described(2, "Environments in parallel processes.", minimum=1)
    seed: int = described(0, "Seed of the run.", minimum=0)
    device: str = described("auto", "auto, cpu or cuda.")
    controller: str = described("mpc", "Controller executing the plans.")
    sim: str = described(
        "highway-env",
        "highway-env (worker processes, through --controller) or batched (the batched engine, "
        "--envs at once; validation there too).",
    )
    safety_layer: bool = described(
        False,
        "Train with the executor's safety layer vetoing unsafe lane changes (validation too).",
    )
    car_following: str = described(
        "idm",
        "The executor's car following: idm, idm_plus, or (highway-env only) idm_acc, idm_plus_acc.",
    )
    time_gap_s: float = described(TIME_GAP_S, "The executor's time gap behind its leader [s].")
    lateral_acceleration_mps2: float = described(
        ExecutorConfig().lateral_acceleration_mps2,
        "The executor's lateral acceleration in curves [m/s2] (the rule planner's by default).",
    )
    margins: SafetyMargins = SafetyMargins()  # the safety layer's, where it is on
    eval_every: int = described(2_000, "Validate every this many steps.", minimum=1)
    eval_episodes: int = described(10, "Validation episodes.", minimum=1)
    checkpoint_every: int = described(1_000, "Save every this many steps.", minimum=1)

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ConfigError(f"unknown algo '{self.algo}'; valid: {', '.join(ALGORITHMS)}")
        if self.extractor not in EXTRACTORS:
            raise ConfigError(
                f"unknown extractor '{self.extractor}'; valid: {', '.join(EXTRACTORS)}"
            )
        if self.sim not in SIMS:
            raise ConfigError(f"unknown sim '{self.sim}'; valid: {', '.join(SIMS)}")
        try:
            interface_of(self.interface)
            roads = scenario_names(self.scenario)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if self.sim == "batched":
            self._check_batched(roads)
        try:
            self.executor_config  # noqa: B018 (ExecutorConfig's ValueError names the value)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        for name in ("steps", "envs", "eval_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def _check_batched(self, roads: tuple[str, ...]) -> None:
        """Refuse what the batched engine cannot train, by name."""
        if self.car_following not in ENGINE_CAR_FOLLOWING:
            raise ConfigError(
                f"--sim batched's ego follows with {' or '.join(ENGINE_CAR_FOLLOWING)}, not "
                f"--car-following {self.car_following} (train with it in highway-env)"
            )
        if self.safety_layer and self.margins.stopping_check:
            raise ConfigError(
                "--sim batched's safety layer has no stopping check; drop --stopping-check (it "
                "can be added to the card after training) or --safety-layer"
            )
        if self.interface == "highway" and self.scenario != "highway":
            raise ConfigError(
                f"--sim batched trains the highway interface on the highway scenario only, not "
                f"'{self.scenario}' (the road interface, --interface road, trains on the other roads)"
            )
        if self.interface == "road":
            if self.safety_layer:
                raise ConfigError(
                    "--sim batched has no safety layer for the road interface; drop --safety-layer"
                )
            if self.envs % len(roads):
                raise ConfigError(
                    f"--envs {self.envs} does not split evenly over the {len(roads)} roads of "
                    f"'{self.scenario}'"
                )
            from drive.training.validation import road_specs

            road_specs(self.scenario)  # refuses, by name, what the engine cannot honour
        for road in roads:
            plant = load_scenario(road).plant
            if plant != DEFAULT_PLANT:
                # The batched engine integrates highway-env's own vehicle; it has no other plant.
                raise ConfigError(
                    f"--sim batched drives highway-env's vehicle only, not plant '{plant}' of "
                    f"scenario '{road}'"
                )

    @property
    def executor_config(self) -> ExecutorConfig:
        """The executor's car following and safety margins."""
        return ExecutorConfig(
            self.car_following,  # type: ignore[arg-type]
            self.time_gap_s,
            self.margins,
            self.lateral_acceleration_mps2,
        )


# highway-env: planning environments in worker processes, through the configured controller.
# batched: planning.rl.batched on the batched engine, ``envs`` at once in this process; validation
# runs there too (many episodes in one batch), and the shipped figures come from ``drive rollout``.
SIMS = ("highway-env", "batched")
