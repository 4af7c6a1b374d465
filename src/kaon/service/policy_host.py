"""The live policy: built from a spec string, and rebuilt (new spec or same) without a restart.

A policy keeps incremental structures fed by its hooks. Rebuilding therefore creates a fresh
instance and replays, in time order, the hooks that bring it to the present: the recently
completed jobs (`Policy.jobs_finished_before`, so a predicting policy's history survives a
rebuild and a restart), an arrival for every active job, then a start for every job that is
running (or stopping). The same replay removes a cancelled pending job from every policy's
structures, since the hooks have no "withdrawn" event.

A service job's `JobSpec.duration` is its time limit while it lives; when it ends the policy hears
of it with its measured run time instead, so a policy that learns runtimes learns what jobs took,
not what they asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace

from kaon.core.job import PriorJob
from kaon.policy.base import Policy
from kaon.policy.precedence import PriorityPreemption
from kaon.policy.registry import available, make_policy
from kaon.quota.policy import QuotaPolicy
from kaon.quota.quotas import QuotaBook
from kaon.service.book import JobBook
from kaon.sim.state import JobState, JobStatus
from kaon.store.records import JobPhase, JobRecord

PAST_JOBS = 5000
"""Completed jobs kept for rebuilt policies: more than the predictor's history features use (the
last 10 of each group of similar jobs) for any but the rarest groups."""


def default_policy_spec() -> str:
    """`fifo-backfill` when a policy of that name is registered, else `fifo`."""
    return "fifo-backfill" if "fifo-backfill" in available() else "fifo"


class PolicyHost:
    """The live policy. Every policy it builds honours job priorities (`PriorityPreemption`) and,
    with `quotas`, is wrapped in `QuotaPolicy` around that, so a reload keeps both."""

    def __init__(self, spec: str | None = None, quotas: QuotaBook | None = None) -> None:
        self.spec = spec or default_policy_spec()
        self.quotas = quotas
        self.policy: Policy = self._make(self.spec)
        self.past: deque[PriorJob] = deque(maxlen=PAST_JOBS)
        """The most recently completed jobs, in finish order, with their measured run times."""

    def remember(self, completed: Iterable[PriorJob]) -> None:
        """Jobs that completed before this service started (the store's), oldest first."""
        self.past.extend(completed)

    def finished(self, job: JobState, record: JobRecord, now: float) -> None:
        """`job` ended as `record` says: the policy hears it with its run time as duration."""
        job.spec = replace(job.spec, duration=max(record.run_time_s, 1.0))
        self.policy.job_finished(job, now)
        if record.state is JobPhase.COMPLETED:
            self.past.append(PriorJob(job.spec, now))

    def _make(self, spec: str) -> Policy:
        policy = PriorityPreemption(make_policy(spec))
        return policy if self.quotas is None else QuotaPolicy(policy, self.quotas)

    @property
    def name(self) -> str:
        return self.policy.name

    def rebuild(self, book: JobBook, spec: str | None = None) -> None:
        """A fresh policy (from `spec`, else the current one) brought up to date with `book`.
        A bad spec raises `PolicyParamError` and leaves the current policy in place."""
        policy = self._make(spec or self.spec)
        if self.past:
            policy.jobs_finished_before(tuple(self.past))
        hooks = []
        for job in book.active():
            hooks.append((job.spec.submit_time, 0, job.index, job))
            if job.status is JobStatus.RUNNING:
                hooks.append((job.run_start, 1, job.index, job))
        for at, kind, _, job in sorted(hooks, key=lambda h: h[:3]):
            if kind == 0:
                policy.job_arrived(job, at)
            else:
                policy.job_started(job, at)
        self.policy = policy
        self.spec = spec or self.spec
