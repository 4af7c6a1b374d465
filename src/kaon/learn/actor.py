"""`NumpyActor`: a trained agent's deterministic action network as numpy arrays, for deciding.

At a decision the service needs only the agent's deterministic action for one observation.
stable-baselines3's `predict` takes 2-3 ms for that on these networks of two 64-unit layers
(tensor conversion, a distribution object, masking through torch), about as much as the rest of a
decision together; the same arithmetic on numpy arrays took 0.13 ms a decision (cProfile, DDPG,
1,000 waiting, docs/BENCHMARKS.md). The observation is already flat, which is all the agents'
feature extractor does, so the networks start at their first Linear layer. The weights
are copied out of the loaded model once, so the saved artifact stays stable-baselines3's own, and
`tests/learn/test_actor.py` checks the actions against `predict` on random observations.

- MaskablePPO and TRPO: the policy network and action head give logits; the action is their
  argmax (over the masked-in actions, for MaskablePPO).
- DDPG: the actor network's output in [-1, 1], mapped onto the action space's bounds as
  stable-baselines3 does for a squashed output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kaon.learn.artifacts import Algorithm, ArtifactError

Activation = Callable[[np.ndarray], np.ndarray]


def _activation(module: Any) -> Activation:
    name = type(module).__name__
    if name == "Tanh":
        return np.tanh
    if name == "ReLU":
        return lambda x: np.maximum(x, 0.0)
    raise ArtifactError(f"agent network has a {name} layer; only Linear, Tanh and ReLU can be compiled")


@dataclass(frozen=True)
class Layer:
    weight: np.ndarray
    bias: np.ndarray
    activation: Activation | None


def _layers(modules: list[Any]) -> list[Layer]:
    """Linear layers, each with the activation that follows it (if any)."""
    out: list[Layer] = []
    for m in modules:
        if type(m).__name__ == "Linear":
            w, b = (p.detach().cpu().numpy().astype(np.float32) for p in (m.weight, m.bias))
            out.append(Layer(w.T.copy(), b, None))
        else:
            if not out or out[-1].activation is not None:
                raise ArtifactError(f"agent network: a {type(m).__name__} layer that follows no Linear layer")
            out[-1] = Layer(out[-1].weight, out[-1].bias, _activation(m))
    return out


@dataclass(frozen=True)
class NumpyActor:
    layers: tuple[Layer, ...]
    masked: bool
    """MaskablePPO: the argmax is over the actions the mask allows."""
    continuous_bounds: tuple[np.ndarray, np.ndarray] | None = None
    """DDPG: the action space's (low, high)."""

    @classmethod
    def of(cls, algo: Algorithm, model: Any) -> NumpyActor:
        policy = model.policy
        if algo is Algorithm.DDPG:
            space = model.action_space
            return cls(tuple(_layers(list(policy.actor.mu))), False, (space.low.astype(np.float32), space.high.astype(np.float32)))
        if algo in (Algorithm.PPO, Algorithm.TRPO):
            modules = [*policy.mlp_extractor.policy_net, policy.action_net]
            return cls(tuple(_layers(modules)), algo is Algorithm.PPO)
        raise ArtifactError(f"no action network to compile for {algo}")

    def output(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(-1)
        for layer in self.layers:
            x = x @ layer.weight + layer.bias
            if layer.activation is not None:
                x = layer.activation(x)
        return x

    def action(self, obs: np.ndarray, mask: np.ndarray | None = None) -> int:
        """The discrete action: argmax of the logits (of the allowed ones when masked)."""
        logits = self.output(obs)
        if self.masked and mask is not None:
            logits = np.where(mask, logits, -np.inf)
        return int(np.argmax(logits))

    def weights(self, obs: np.ndarray) -> np.ndarray:
        """DDPG's continuous action, on the action space's scale."""
        assert self.continuous_bounds is not None
        low, high = self.continuous_bounds
        return low + 0.5 * (self.output(obs) + 1.0) * (high - low)
