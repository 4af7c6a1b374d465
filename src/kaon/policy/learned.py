"""`learned`: a scheduler trained by `kaon train` (PPO, DDPG, TRPO, the model-based planner, or ES).

`learned:path=DIR` loads the model directory `kaon train --out DIR` wrote (see docs/LEARNING.md).
For the agents and the planner it makes, at each decision, the choices its agent would make in the
training environment, deterministically; for `es` it is the preemptive `scored` policy with the
learned parameters and the saved predictor. `path` is required: there is no meaningful untrained
default. The learning stack (torch, stable-baselines3) is imported only when such a policy is
built, so listing policies and every other policy work without the `learn` extra.
"""

from __future__ import annotations

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, PolicyWrapper, SchedulerView
from kaon.policy.registry import register


@register
class Learned(PolicyWrapper):
    name = "learned"
    positional = "path"
    summary = "a trained scheduler from `kaon train` (RL agent, planner or ES-learned rank; `learned:DIR` or `learned:path=DIR`)"

    def __init__(self, *, path: str | None = None, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        if not path:
            raise ValueError("needs path=DIR, a model directory written by `kaon train`")
        try:
            from kaon.learn.policy import load_policy
        except ImportError as e:
            raise ValueError(f"needs the learning extra (pip install 'kaon[learn]'): {e}") from None
        super().__init__(load_policy(path, placement))

    def decide(self, view: SchedulerView) -> Decision:
        return self.inner.decide(view)
