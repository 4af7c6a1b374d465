"""`JobBook`: the service's in-memory scheduling state, kept with the simulator's own types.

Jobs are `JobState`s built from `JobSpec`s, and pending/running/capacity and the transitions
between them are the simulator's own `JobLedger`, driven with the wall clock's `now`. What the service adds is a third set besides pending and running: *stopping*
jobs, asked to stop but whose processes still hold their GPUs. The policy sees them in neither
set (it cannot preempt or start them twice) and their GPUs stay allocated until they exit.

A service job's `duration` is its time limit: the only estimate of its length the service has.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from kaon.core.job import JobSpec
from kaon.core.placement import Placement
from kaon.core.throughput import SpeedModel
from kaon.executors.inventory import Inventory
from kaon.service.gpu_pool import GpuPool
from kaon.sim.ledger import JobLedger
from kaon.sim.state import JobState
from kaon.store.records import Grant, JobRecord, StopRequest

log = logging.getLogger(__name__)


def spec_of(record: JobRecord) -> JobSpec:
    return JobSpec(
        job_id=str(record.id),
        submit_time=record.submit_time,
        duration=record.time_limit_s,
        num_gpus=record.gpus,
        queue=record.queue,
        job_type=record.job_type,
        user=record.user,
        name=record.name,
        allowed_types=record.gpu_types,
        priority=record.priority,
    )


class JobBook(JobLedger):
    """The ledger plus what only real jobs have: store records, device grants, and jobs that were
    asked to stop but still hold their GPUs."""

    def __init__(self, inventory: Inventory, speed_model: SpeedModel | None = None) -> None:
        super().__init__(inventory.cluster)
        self.inventory = inventory
        self.speed_model = speed_model or SpeedModel(self.cluster)
        self.pool = GpuPool(inventory)
        self.records: dict[int, JobRecord] = {}
        self.jobs: dict[int, JobState] = {}
        self.grants: dict[int, Grant] = {}
        self.stopping: dict[str, JobState] = {}
        self.stop_reasons: dict[int, StopRequest] = {}
        self.cordoned: frozenset[int] = frozenset()
        """Nodes that take no new job (drained, or left the inventory): their free GPUs are held."""
        self.held: dict[int, str] = {}
        """Held jobs and why (`kaon.service.holds`): PENDING, but in neither `pending` nor the
        policy's hooks until released, so no policy can start them."""

    # --- membership ---------------------------------------------------------------------------

    def add(self, record: JobRecord) -> JobState | None:
        """Track a job the store holds; None if it is already tracked."""
        if record.id in self.jobs:
            return None
        spec = spec_of(record)
        speeds = self.speed_model.speeds(spec.job_type, spec.num_gpus)
        if spec.allowed_types is not None:
            allowed = np.array([t in spec.allowed_types for t in self.cluster.type_names])
            speeds = np.where(allowed, speeds, 0.0)
        job = JobState(spec, record.id, speeds)
        job.executed = record.run_time_s
        job.attained = record.run_time_s * record.gpus
        job.remaining = max(spec.duration - record.run_time_s, 0.0)
        job.preemptions = record.preemptions
        self.records[record.id] = record
        self.jobs[record.id] = job
        self.pending[spec.job_id] = job
        return job

    def active(self) -> Iterable[JobState]:
        """The jobs the policy knows: every tracked job but the held ones."""
        return (j for j in self.jobs.values() if j.index not in self.held)

    def hold(self, job: JobState, reason: str) -> None:
        """Take a pending job out of the queue the policy sees."""
        del self.pending[job.job_id]
        self.held[job.index] = reason

    def release(self, job: JobState) -> None:
        """Back into the queue, at its end (the policy then hears of its arrival)."""
        del self.held[job.index]
        self.pending[job.job_id] = job

    def job(self, job_id: int) -> JobState | None:
        return self.jobs.get(job_id)

    # --- transitions (the engine's, on the wall clock) ----------------------------------------

    def fits(self, job: JobState, p: Placement) -> bool:
        """Whether `p` is a valid placement for `job` on what is physically free now."""
        if p.num_gpus != job.num_gpus or not job.speeds[p.gpu_type] > 0:
            return False
        node_type, free = self.cluster.node_type, self.capacity.free
        return all(node_type[n] == p.gpu_type and free[n] >= g for n, g in zip(p.nodes, p.gpus))

    def plan_starts(self, starts: Iterable[tuple[JobState, Placement]]) -> list[tuple[JobState, Placement, Grant]]:
        """The starts of one decision that can be carried out, each with the devices it would
        get, in order: each is checked against what is free less what the earlier ones take.
        Nothing stays taken, so the loop can persist them all before it claims any. A start of a
        job that is not pending, or that does not fit (the policy counted on GPUs a stopping job
        still holds), is left out: the policy is asked again at the next decision."""
        planned: list[tuple[JobState, Placement, Grant]] = []
        chosen: set[int] = set()
        try:
            for job, p in starts:
                if job.job_id not in self.pending or job.index in chosen or not self.fits(job, p):
                    log.debug("start of job %s on %s deferred: not pending or GPUs not free yet", job.job_id, p)
                    continue
                grant = self.pool.choose(p)
                self.pool.claim(grant)
                self.capacity.allocate(p)
                chosen.add(job.index)
                planned.append((job, p, grant))
        finally:
            for _, p, grant in planned:
                self.capacity.release(p)
                self.pool.release(grant)
        return planned

    def launch(self, job: JobState, p: Placement, grant: Grant, now: float) -> None:
        """Run `job` on `p`, with the devices `pool.choose(p)` gave (and the store recorded)."""
        self.pool.claim(grant)
        self._run(job, p, grant, now)

    def adopt(self, job: JobState, stored: Grant, started_at: float) -> Grant:
        """A job found running after a restart: it keeps exactly the devices it had."""
        grant, p = self.pool.resolve(stored)
        self.pool.claim(grant)
        self._run(job, p, grant, started_at)
        return grant

    def _run(self, job: JobState, p: Placement, grant: Grant, now: float) -> None:
        self.grants[job.index] = grant
        # A real restart's checkpoint restore happens inside the job's own process: no modelled overhead.
        self.start(job, p, now)

    def mark_stopping(self, job: JobState, why: StopRequest) -> None:
        """Asked to stop: hidden from the policy, GPUs held until the process exits."""
        self.stop_reasons[job.index] = why
        if job.job_id in self.running:
            del self.running[job.job_id]
            self.stopping[job.job_id] = job

    def stop_run(self, job: JobState, now: float) -> None:
        super().stop_run(job, now)
        grant = self.grants.pop(job.index)
        self.pool.release(grant)
        for s in grant.slices:
            if s.node in self.cordoned:
                self._hold(s.node)
        self.stopping.pop(job.job_id, None)
        self.stop_reasons.pop(job.index, None)

    def cordon(self, nodes: Iterable[int]) -> None:
        """Give `nodes` no new jobs: their free GPUs are held now, and each GPU a job there frees
        is held in turn. Set once, on a fresh book (node changes build a new one)."""
        self.cordoned = frozenset(nodes)
        for n in self.cordoned:
            self._hold(n)

    def _hold(self, node: int) -> None:
        count = self.pool.hold(node)
        if count:
            self.capacity.allocate(Placement(int(self.cluster.node_type[node]), (node,), (count,)))

    def finish(self, job: JobState, now: float) -> None:
        """The job left the system for good, from running or from the queue (cancelled)."""
        if job.index in self.held:
            self.release(job)
        super().finish(job, now)
        del self.jobs[job.index]
        del self.records[job.index]
