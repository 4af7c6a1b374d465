"""`learned`: a scheduler trained by `kaon train` (PPO, DDPG, TRPO, the model-based planner, or ES).

`learned:path=DIR` loads the model directory `kaon train --out DIR` wrote (see docs/LEARNING.md).
For the agents and the planner it makes, at each decision, the choices its agent would make in the
training environment, deterministically; for `es` it is the preemptive `scored` policy with the
learned parameters and the saved predictor. `path` is required: there is no meaningful untrained
default. The learning stack (torch, stable-baselines3) is imported only when such a policy is
built, so listing policies and every other policy work without the `learn` extra.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaon.core.job import PriorJob
from kaon.core.placement import FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView
from kaon.policy.registry import register
from kaon.sim.state import JobState


@register
class Learned(Policy):
    name = "learned"
    positional = "path"
    summary = "a trained scheduler from `kaon train` (RL agent, planner or ES-learned rank; `learned:DIR` or `learned:path=DIR`)"

    def __init__(self, *, path: str | None = None, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        super().__init__(placement)
        if not path:
            raise ValueError("needs path=DIR, a model directory written by `kaon train`")
        try:
            from kaon.learn.policy import load_policy
        except ImportError as e:
            raise ValueError(f"needs the learning extra (pip install 'kaon[learn]'): {e}") from None
        self.inner = load_policy(path, placement)
        self.preemptive = self.inner.preemptive  # type: ignore[misc]

    def decide(self, view: SchedulerView) -> Decision:
        return self.inner.decide(view)

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        return self.inner.type_order(job, capacity)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.inner.jobs_finished_before(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        self.inner.job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        self.inner.job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self.inner.job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self.inner.job_finished(job, now)
