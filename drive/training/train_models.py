"""The Stable-Baselines3 algorithms ``drive train`` builds, with their hyper-parameters."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sb3_contrib import QRDQN
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from planning.rl.extractors import EXTRACTORS

if TYPE_CHECKING:
    from drive.training.train_config import TrainConfig

# What DQN and QR-DQN share, wherever they train.
DQN_RECIPE: dict[str, Any] = {
    "learning_rate": 5e-4,
    "train_freq": 1,
    "exploration_fraction": 0.3,
    "exploration_final_eps": 0.05,
}
QUANTILES = 50  # QR-DQN's quantiles of the return (Dabney et al. 2018 used 200)


def build_model(config: TrainConfig, env: VecEnv, tensorboard: Path) -> BaseAlgorithm:
    """The SB3 algorithm with our extractor and hyper-parameters (see the README's training section)."""
    common: dict[str, Any] = {
        "policy_kwargs": {
            "features_extractor_class": EXTRACTORS[config.extractor],
            "net_arch": [256, 256] if config.extractor == "mlp" else [128],
        },
        "gamma": 0.9,  # decisions are 1 s apart: a horizon of about 10 s
        "tensorboard_log": str(tensorboard),
        "seed": config.seed,
        "device": config.device,
        "verbose": 0,
    }
    if config.algo == "ppo":
        return _ppo(config, env, common)
    if config.sim == "batched":
        # Hundreds of environments per step: 16 replayed samples per new transition (32 gradient
        # steps of 256 for 512 environments), the target network renewed every 8 vector steps.
        replay: dict[str, Any] = {
            "buffer_size": 200_000,
            "learning_starts": min(20 * config.envs, config.steps // 4),
            "batch_size": 256,
            "gradient_steps": max(1, config.envs // 16),
            "target_update_interval": 8 * config.envs,
        }
    else:
        replay = {
            "buffer_size": 50_000,
            "learning_starts": min(500, config.steps // 4),
            "batch_size": 64,
            "gradient_steps": 1,
            "target_update_interval": 500,
        }
    if config.algo == "qrdqn":
        # QR-DQN learns quantiles of the return of each decision instead of its mean; the rest of
        # the recipe is DQN's, so the two differ in that alone. 50 quantiles, not sb3-contrib's
        # 200: the quantile loss grows with their square, and at 200 it made training on the
        # engine 10 times slower than DQN's (78 decisions/s on this 2-core CPU).
        common["policy_kwargs"]["n_quantiles"] = QUANTILES
        return QRDQN("MlpPolicy", env, **DQN_RECIPE, **replay, **common)
    return DQN("MlpPolicy", env, **DQN_RECIPE, **replay, **common)


def _ppo(config: TrainConfig, env: VecEnv, common: dict[str, Any]) -> PPO:
    if config.sim == "batched":
        # Rollouts of up to 64 decisions of every environment, in minibatches of 512.
        n_steps = max(8, min(64, config.steps // config.envs))
        return PPO(
            "MlpPolicy",
            env,
            n_steps=n_steps,
            batch_size=min(512, n_steps * config.envs),
            n_epochs=5,
            learning_rate=3e-4,
            ent_coef=0.01,
            **common,
        )
    return PPO(
        "MlpPolicy",
        env,
        n_steps=max(16, min(256, config.steps // config.envs)),
        batch_size=64,
        n_epochs=10,
        learning_rate=3e-4,
        ent_coef=0.01,
        **common,
    )
