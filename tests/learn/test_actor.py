"""`NumpyActor` gives the action stable-baselines3's `predict` gives, for each agent kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kaon.learn.actor import NumpyActor
from kaon.learn.agents import load_agent
from kaon.learn.artifacts import AGENT, Algorithm


@pytest.mark.parametrize("algo", ["ppo", "trpo", "ddpg"])
def test_numpy_actions_equal_predict(tmp_path: Path, tiny_model, algo: str) -> None:  # noqa: ANN001
    d = tiny_model(tmp_path / algo, algo, timesteps=64)
    model = load_agent(Algorithm(algo), d / AGENT)
    actor = NumpyActor.of(Algorithm(algo), model)
    rng = np.random.default_rng(0)
    dim = model.observation_space.shape[0]
    n_actions = getattr(model.action_space, "n", 0)
    for _ in range(50):
        obs = rng.normal(0.0, 1.0, dim).astype(np.float32)
        if algo == "ddpg":
            expected = model.predict(obs, deterministic=True)[0]
            assert np.allclose(actor.weights(obs), expected, atol=1e-5)
        elif algo == "ppo":
            mask = rng.random(n_actions) < 0.5
            mask[-1] = True
            assert actor.action(obs, mask) == int(model.predict(obs, action_masks=mask, deterministic=True)[0])
        else:
            assert actor.action(obs) == int(model.predict(obs, deterministic=True)[0])
