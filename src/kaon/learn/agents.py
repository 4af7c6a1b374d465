"""The model-free agents: MaskablePPO (default), DDPG over a scoring rule, and TRPO.

- `ppo`: sb3-contrib's MaskablePPO on the discrete action (a candidate slot or wait), with the
  environment's action mask, so it never picks padding.
- `ddpg`: stable-baselines3's DDPG needs a continuous action, so `ScoringRuleEnv` makes the action
  a weight per candidate feature; the candidate with the highest weighted sum of its features is
  started. The policy is then a state-dependent linear scoring rule, readable as weights x
  features (`kaon explain --model`). It never waits.
- `trpo`: sb3-contrib's TRPO on the discrete action without masking; a masked-out choice is
  resolved by `kaon.learn.observe.resolve` (wait, else the first candidate).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import TRPO, MaskablePPO
from stable_baselines3 import DDPG
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from kaon.learn.artifacts import Algorithm
from kaon.learn.env import SchedulingEnv
from kaon.learn.observe import Candidates

MODEL_FREE: dict[Algorithm, type[BaseAlgorithm]] = {Algorithm.PPO: MaskablePPO, Algorithm.DDPG: DDPG, Algorithm.TRPO: TRPO}


def score_choice(cands: Candidates, weights: np.ndarray) -> int:
    """The valid candidate with the highest `features @ weights` (ties: queue order)."""
    scores = cands.features @ np.asarray(weights, dtype=np.float32)
    scores = np.where(cands.mask[:-1], scores, -np.inf)
    return int(np.argmax(scores))


class ScoringRuleEnv(gym.Wrapper[np.ndarray, np.ndarray, np.ndarray, np.int64]):
    """`SchedulingEnv` with a continuous action: one weight in [-1, 1] per candidate feature."""

    def __init__(self, env: SchedulingEnv) -> None:
        super().__init__(env)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (env.job_dim,), dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        env: SchedulingEnv = self.env  # type: ignore[assignment]
        assert env.candidates is not None
        return env.step(score_choice(env.candidates, action))


def wrap_for(algo: Algorithm, env: SchedulingEnv) -> gym.Env:
    inner: gym.Env = ScoringRuleEnv(env) if algo is Algorithm.DDPG else env
    return Monitor(inner)


def vec_env(algo: Algorithm, make: Callable[[int], SchedulingEnv], n_envs: int, subproc: bool = False) -> VecEnv:
    """`n_envs` copies (seeds 0..n-1) in one process, or one process each with `subproc`."""
    fns = [lambda i=i: wrap_for(algo, make(i)) for i in range(n_envs)]
    return SubprocVecEnv(fns) if subproc and n_envs > 1 else DummyVecEnv(fns)


def new_agent(algo: Algorithm, env: VecEnv, *, seed: int, tensorboard: Path | None, n_steps: int) -> BaseAlgorithm:
    """An untrained agent with small networks (the observation is a few hundred numbers)."""
    single_thread()
    tb = str(tensorboard) if tensorboard else None
    kwargs: dict[str, Any] = {"seed": seed, "tensorboard_log": tb, "device": "cpu", "verbose": 0}
    if algo is Algorithm.PPO:
        return MaskablePPO("MlpPolicy", env, n_steps=n_steps, batch_size=min(64, n_steps * env.num_envs), **kwargs)
    if algo is Algorithm.TRPO:
        return TRPO("MlpPolicy", env, n_steps=n_steps, batch_size=min(128, n_steps * env.num_envs), **kwargs)
    if algo is Algorithm.DDPG:
        dim = env.action_space.shape[0]  # type: ignore[index]
        noise = NormalActionNoise(np.zeros(dim), 0.3 * np.ones(dim))
        return DDPG("MlpPolicy", env, action_noise=noise, learning_starts=min(100, n_steps), **kwargs)
    raise ValueError(f"unknown model-free algorithm {algo!r}; known: {', '.join(MODEL_FREE)}")


def single_thread() -> None:
    """Networks this small gain nothing from intra-op threads; on a shared machine they spin."""
    torch.set_num_threads(1)


def load_agent(algo: Algorithm, path: Path, env: VecEnv | None = None) -> BaseAlgorithm:
    single_thread()
    return MODEL_FREE[algo].load(str(path), env=env, device="cpu")
