"""`psrtf`: preemptive shortest *predicted* remaining GPU-time first.

SRTF (`srtf`) with the true remaining time is the clairvoyant reference; `psrtf` ranks by what a
scheduler can know instead: remaining = max(T(e) - e, `min_remaining`) x GPUs, where e is the
wall time the job has executed so far and T(e) its predicted total duration given that it has run e:

- T = the point estimate while e is below it;
- then the predicted p90, once the job has outlived its point estimate;
- then p90 x `growth`^n, the first such value above e, once it has outlived the p90 too.

Outliving a prediction is evidence the job is long (durations are heavy-tailed: the longer a job
has run, the longer it is likely to run), so its estimate grows geometrically rather than sitting
at `min_remaining` and keeping the GPUs forever as a naive "predicted minus executed" would. At
each such step a running job's rank worsens, so the policy asks to be woken at the next one.

Preemption goes through `PriorityPolicy` with a minimum `lease` (default 360 s, Gavel's round), so
short arrivals do not thrash a job that has just paid its restart overhead. Estimates come from
`kaon.predict.online.OnlineEstimator`, as in `qssf`: a saved predictor (`model=DIR`) or one learned
during the run. As in `qssf`, model calls are deferred until ranks matter: arrivals that all fit
while nobody ranked waits start unranked, and get their estimates, with everything else not yet
estimated, in one batch at the first decision with a job waiting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kaon.core.job import PriorJob
from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, SchedulerView
from kaon.policy.priority import PriorityPolicy
from kaon.policy.qssf import place_all
from kaon.policy.registry import register
from kaon.predict.online import Estimate, OnlineEstimator
from kaon.sim.state import JobState


def predicted_total(estimate: Estimate, executed: float, growth: float) -> float:
    """T(e): the predicted total duration of a job that has run `executed` seconds."""
    if executed < estimate.point:
        return estimate.point
    if executed < estimate.p90:
        return estimate.p90
    steps = math.floor(math.log(executed / estimate.p90) / math.log(growth)) + 1
    total = estimate.p90 * growth**steps
    return total if total > executed else total * growth  # guards the float edge at a boundary


@register
class Psrtf(PriorityPolicy):
    name = "psrtf"
    summary = "preemptive shortest predicted remaining GPU-time first (learned runtime estimates)"

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
        lease: float = 360.0,
        growth: float = 2.0,
        min_remaining: float = 60.0,
    ) -> None:
        super().__init__(placement, lease=lease)
        if not growth > 1:
            raise ValueError(f"growth must be > 1, got {growth}")
        if not min_remaining > 0:
            raise ValueError(f"min_remaining must be > 0 seconds, got {min_remaining}")
        self.growth, self.min_remaining = growth, min_remaining
        self.estimator = OnlineEstimator(model, refit_every=refit_every, min_history=min_history)
        self._estimates: dict[int, Estimate] = {}
        self._unranked: list[JobState] = []
        self._unestimated: dict[int, JobState] = {}
        """Jobs started without an estimate (all fitted at once), until the next batch."""

    def remaining(self, job: JobState, executed: float) -> float:
        """Predicted remaining GPU-time of `job` after `executed` wall seconds of running."""
        left = predicted_total(self._estimates[job.index], executed, self.growth) - executed
        return max(left, self.min_remaining) * job.num_gpus

    def pending_key(self, job: JobState) -> float:
        return self.remaining(job, job.executed)

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        return [self.remaining(j, j.executed_at(now)) for j in jobs]

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """The earliest instant a job running after `decision` outlives its current predicted total."""
        after, _ = self.running_after(running, decision, now)
        times = [
            now + predicted_total(self._estimates[j.index], e, self.growth) - e
            for j in after
            for e in (j.executed_at(now),)
        ]
        return min(times, default=None)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.estimator.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        estimate = self.estimator.arrived(job, now)
        if estimate is None:
            self._unranked.append(job)
        else:
            self._estimates[job.index] = estimate
            super().job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        if job in self.queue:
            super().job_started(job, now)
        else:
            if job in self._unranked:  # started before it was ranked: a service reload replaying a running job
                self._unranked.remove(job)
            self._unestimated[job.index] = job

    def job_finished(self, job: JobState, now: float) -> None:
        self._estimates.pop(job.index, None)
        self._unestimated.pop(job.index, None)
        self.estimator.finished(job, now)

    def decide(self, view: SchedulerView) -> Decision:
        if self._unranked and not self.queue:
            starts = place_all(self, self._unranked, view.capacity)
            if starts is not None:
                self._unranked.clear()
                return Decision(starts=starts)
        if not self._unranked and not self.queue:
            return Decision()
        batch = self._unranked + list(self._unestimated.values())
        for job, estimate in zip(batch, self.estimator.estimate_many(batch)):
            self._estimates[job.index] = estimate
        for job in self._unranked:
            super().job_arrived(job, view.now)
        self._unranked.clear()
        self._unestimated.clear()
        return super().decide(view)
