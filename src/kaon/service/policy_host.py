"""The live policy: built from a spec string, and rebuilt (new spec or same) without a restart.

A policy keeps incremental structures fed by its hooks. Rebuilding therefore creates a fresh
instance and replays, in time order, the hooks that bring it to the present: an arrival for every
active job, then a start for every job that is running (or stopping). The same replay removes a
cancelled pending job from every policy's structures, since the hooks have no "withdrawn" event.
"""

from __future__ import annotations

from kaon.policy.base import Policy
from kaon.policy.registry import available, make_policy
from kaon.quota.policy import QuotaPolicy
from kaon.quota.quotas import QuotaBook
from kaon.service.book import JobBook
from kaon.sim.state import JobStatus


def default_policy_spec() -> str:
    """`fifo-backfill` when a policy of that name is registered, else `fifo`."""
    return "fifo-backfill" if "fifo-backfill" in available() else "fifo"


class PolicyHost:
    """The live policy; with `quotas`, every policy it builds is wrapped in `QuotaPolicy`, so a
    reload keeps the quotas."""

    def __init__(self, spec: str | None = None, quotas: QuotaBook | None = None) -> None:
        self.spec = spec or default_policy_spec()
        self.quotas = quotas
        self.policy: Policy = self._make(self.spec)

    def _make(self, spec: str) -> Policy:
        policy = make_policy(spec)
        return policy if self.quotas is None else QuotaPolicy(policy, self.quotas)

    @property
    def name(self) -> str:
        return self.policy.name

    def rebuild(self, book: JobBook, spec: str | None = None) -> None:
        """A fresh policy (from `spec`, else the current one) brought up to date with `book`.
        A bad spec raises `PolicyParamError` and leaves the current policy in place."""
        policy = self._make(spec or self.spec)
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
