"""The `Policy` contract every scheduler in kaon implements, in every world it decides in.

A policy sees a `SchedulerView` (the clock's now, pending and running jobs, free capacity) and
answers a `Decision`: jobs to preempt, jobs to start with their placements, and optionally when it
wants to be asked again even if nothing happens (round-based policies, leases). The simulator, the
RL environment and the service all drive policies through this one interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import PriorJob
from kaon.core.placement import FreeCapacity, Placement, PlacementStrategy
from kaon.sim.state import JobState


@dataclass(frozen=True, slots=True)
class Start:
    job: JobState
    placement: Placement


@dataclass(frozen=True, slots=True)
class Preempt:
    job: JobState


@dataclass(slots=True)
class Decision:
    starts: list[Start] = field(default_factory=list)
    preempts: list[Preempt] = field(default_factory=list)
    wake_at: float | None = None


@dataclass(frozen=True, slots=True)
class SchedulerView:
    """What a policy may look at. `pending` is in queue order (arrival, re-queued at the end after
    a preemption); `capacity` is live: copy it before placing tentatively."""

    now: float
    pending: Mapping[str, JobState]
    running: Mapping[str, JobState]
    capacity: FreeCapacity
    cluster: ClusterSpec


class PolicyParamError(ValueError):
    """A policy parameter string is malformed or names an unknown parameter."""


class Policy(ABC):
    """A scheduling policy. Subclasses set `name` and `summary` and implement `decide`.

    The `job_*` hooks let a policy keep incremental structures (a sorted pending queue) instead of
    re-sorting everything at each event; the engine calls them in event order.
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    preemptive: ClassVar[bool] = False
    positional: ClassVar[str | None] = None
    """The parameter a spec's first value may give without its key (`learned:DIR` is
    `learned:path=DIR`); None: every value needs its key."""

    def __init__(self, placement: PlacementStrategy = PlacementStrategy.PACKING) -> None:
        self.placement = placement

    @classmethod
    def search_space(cls) -> dict[str, list[str]] | None:
        """Candidate parameter values for `kaon tune`, when the generic grid (each numeric default
        scaled by 1/4 .. 4) does not fit: coupled parameters share a key joined by `&`
        (`"queues&thresholds": ["3&3600;36000"]`). None: use the generic grid."""
        return None

    @abstractmethod
    def decide(self, view: SchedulerView) -> Decision: ...

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        """Jobs that finished before this run began (`Trace.prior`, a window's recent past, or a
        service's finished jobs at start), in finish order; called once, before any arrival.
        Policies that predict runtimes feed them to their estimator's history."""

    def job_arrived(self, job: JobState, now: float) -> None:
        """A job entered the pending queue for the first time."""

    def job_started(self, job: JobState, now: float) -> None:
        """A job started (or restarted) on its placement."""

    def job_preempted(self, job: JobState, now: float) -> None:
        """A running job went back to pending, keeping its progress."""

    def job_finished(self, job: JobState, now: float) -> None:
        """A job completed and left the system."""

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        """GPU types to try for `job`, best first. Default: fastest for this job first, then the
        one with most free GPUs; types the job may not use (speed 0) are left out. A
        heterogeneity-agnostic policy overrides it."""
        speeds = job.speeds
        order = np.lexsort((-capacity.free_per_type, -speeds))
        return order[speeds[order] > 0].tolist()

    def place(self, job: JobState, capacity: FreeCapacity) -> Placement | None:
        return capacity.place(job.num_gpus, self.type_order(job, capacity), self.placement)


class PolicyWrapper(Policy):
    """A policy around `inner` (quotas, priorities): every hook, the GPU type order and placement go
    to `inner`; a subclass overrides what it adds and calls `super()` to keep forwarding."""

    def __init__(self, inner: Policy) -> None:
        super().__init__(inner.placement)
        self.inner = inner
        self.preemptive = inner.preemptive  # type: ignore[misc]

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

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        return self.inner.type_order(job, capacity)

    def place(self, job: JobState, capacity: FreeCapacity) -> Placement | None:
        return self.inner.place(job, capacity)


def start_in_order(
    policy: Policy, view: SchedulerView, order: Iterable[JobState], *, strict: bool = False
) -> Decision:
    """Start jobs from `order` while they fit. `strict` stops at the first job that does not fit
    (head-of-line blocking, as strict FIFO); otherwise later jobs may pass it."""
    decision = Decision()
    if view.capacity.total_free == 0:
        return decision
    cap = view.capacity.copy()
    for job in order:
        if cap.total_free == 0:
            break
        p = policy.place(job, cap)
        if p is None:
            if strict:
                break
            continue
        cap.allocate(p)
        decision.starts.append(Start(job, p))
    return decision
