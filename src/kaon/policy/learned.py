"""`learned`: a scheduler trained by `kaon train` (PPO, DDPG, TRPO or the model-based planner).

`learned:path=DIR` loads the model directory `kaon train --out DIR` wrote (see docs/LEARNING.md)
and makes, at each decision, the choices its agent would make in the training environment,
deterministically. `path` is required: there is no meaningful untrained default. The learning
stack (torch, stable-baselines3) is imported only when such a policy is built, so listing policies
and every other policy work without the `learn` extra.
"""

from __future__ import annotations

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView
from kaon.policy.registry import register
from kaon.sim.state import JobState


@register
class Learned(Policy):
    name = "learned"
    summary = "a trained RL agent or model-based planner from `kaon train` (needs path=DIR)"

    def __init__(self, *, path: str | None = None, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        super().__init__(placement)
        if not path:
            raise ValueError("needs path=DIR, a model directory written by `kaon train`")
        try:
            from kaon.learn.policy import LearnedScheduler
        except ImportError as e:
            raise ValueError(f"needs the learning extra (pip install 'kaon[learn]'): {e}") from None
        self.scheduler = LearnedScheduler(path)

    def decide(self, view: SchedulerView) -> Decision:
        return self.scheduler.decide(view, self)

    def job_arrived(self, job: JobState, now: float) -> None:
        self.scheduler.observer.arrived(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self.scheduler.observer.finished(job, now)
