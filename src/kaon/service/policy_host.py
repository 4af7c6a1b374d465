"""The live policy: built from a spec string, and rebuilt (new spec or same) without a restart.

A policy keeps incremental structures fed by its hooks. Rebuilding therefore creates a fresh
instance and replays, in time order, the hooks that bring it to the present: an arrival for every
active job, then a start for every job that is running (or stopping). The same replay removes a
cancelled pending job from every policy's structures, since the hooks have no "withdrawn" event.
"""

from __future__ import annotations

from kaon.policy.base import Policy
from kaon.policy.registry import available, make_policy
from kaon.service.book import JobBook
from kaon.sim.state import JobStatus


def default_policy_spec() -> str:
    """`fifo-backfill` when a policy of that name is registered, else `fifo`."""
    return "fifo-backfill" if "fifo-backfill" in available() else "fifo"


class PolicyHost:
    def __init__(self, spec: str | None = None) -> None:
        self.spec = spec or default_policy_spec()
        self.policy: Policy = make_policy(self.spec)

    @property
    def name(self) -> str:
        return self.policy.name

    def rebuild(self, book: JobBook, spec: str | None = None) -> None:
        """A fresh policy (from `spec`, else the current one) brought up to date with `book`.
        A bad spec raises `PolicyParamError` and leaves the current policy in place."""
        policy = make_policy(spec or self.spec)
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
