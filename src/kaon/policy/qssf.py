"""`qssf`: Quasi-Shortest-Service-First (Hu et al., "Characterization and Prediction of Deep
Learning Workloads in Large-Scale GPU Datacenters", SC'21, the Helios scheduler).

Shortest-job-first needs durations nobody knows; QSSF ranks pending jobs by *predicted* service,
GPU-time = predicted duration x GPUs, learned from the cluster's history. Non-preemptive: a job
keeps its GPUs once started. Jobs are started in rank order while they fit; one that does not fit
is passed over, so smaller jobs behind it start (no reservation, as in Helios).

Estimates come from `kaon.predict.online.OnlineEstimator`: a saved predictor (`model=DIR`, made
with `kaon predict fit`), or by default one learned during the run from the jobs finished so far,
refitted every `refit_every` finishes, with the queue median before enough jobs have finished. A
job's rank is fixed once it has an estimate.

Ranking costs a model call, so it is done only when it can matter: while the cluster is full new
arrivals wait unranked (and are ranked together at the next chance to start), and when nothing
ranked is waiting and every new arrival fits, they all start in arrival order without a
prediction, since no order would start a different set of jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from kaon.core.job import PriorJob
from kaon.core.placement import FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView, Start
from kaon.policy.priority import PendingQueue
from kaon.policy.registry import register
from kaon.predict.online import Estimate, OnlineEstimator
from kaon.sim.state import JobState


def place_all(policy: Policy, jobs: Sequence[JobState], capacity: FreeCapacity) -> list[Start] | None:
    """Placements for all of `jobs` in order on a copy of `capacity`, or None if one does not fit."""
    if sum(j.num_gpus for j in jobs) > capacity.total_free:
        return None
    cap = capacity.copy()
    starts = []
    for job in jobs:
        p = policy.place(job, cap)
        if p is None:
            return None
        cap.allocate(p)
        starts.append(Start(job, p))
    return starts


@register
class Qssf(Policy):
    name = "qssf"
    summary = "Helios quasi-shortest-service-first: predicted GPU-time order, non-preemptive"

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
    ) -> None:
        super().__init__(placement)
        self.estimator = OnlineEstimator(model, refit_every=refit_every, min_history=min_history)
        self.queue = PendingQueue()
        self._unranked: list[JobState] = []

    def _rank(self, job: JobState, estimate: Estimate) -> None:
        self.queue.add(job, estimate.point * job.num_gpus)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.estimator.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        estimate = self.estimator.arrived(job, now)
        if estimate is None:
            self._unranked.append(job)
        else:
            self._rank(job, estimate)

    def job_started(self, job: JobState, now: float) -> None:
        if job in self.queue:
            self.queue.remove(job)
        elif job in self._unranked:  # started before it was ranked: a service reload replaying a running job
            self._unranked.remove(job)

    def job_finished(self, job: JobState, now: float) -> None:
        self.estimator.finished(job, now)

    def decide(self, view: SchedulerView) -> Decision:
        decision = Decision()
        if view.capacity.total_free == 0:
            return decision  # nothing can start: leave new arrivals unranked, to batch them later
        if self._unranked and not self.queue:
            starts = place_all(self, self._unranked, view.capacity)
            if starts is not None:
                self._unranked.clear()
                return Decision(starts=starts)
        if self._unranked:
            for job, estimate in zip(self._unranked, self.estimator.estimate_many(self._unranked)):
                self._rank(job, estimate)
            self._unranked.clear()
        cap = view.capacity.copy()
        for _, _, job in self.queue.walk(lambda: int(cap.free_per_type.max())):
            p = self.place(job, cap)
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))
        return decision
