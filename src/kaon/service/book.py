"""`JobBook`: the service's in-memory scheduling state, kept with the simulator's own types.

Jobs are `JobState`s built from `JobSpec`s, capacity is a `FreeCapacity`, and a policy sees a
`SchedulerView` exactly as in the simulator; the transitions below mirror the engine's, with the
wall clock's `now`. What the service adds is a third set besides pending and running: *stopping*
jobs, asked to stop but whose processes still hold their GPUs. The policy sees them in neither
set (it cannot preempt or start them twice) and their GPUs stay allocated until they exit.

A service job's `duration` is its time limit: the only estimate of its length the service has.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from kaon.core.job import JobSpec
from kaon.core.placement import FreeCapacity, Placement
from kaon.core.throughput import SpeedModel
from kaon.executors.inventory import Inventory
from kaon.policy.base import SchedulerView
from kaon.service.gpu_pool import GpuPool
from kaon.sim.state import JobState, JobStatus
from kaon.store.records import Grant, JobRecord, StopRequest


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


class JobBook:
    def __init__(self, inventory: Inventory, speed_model: SpeedModel | None = None) -> None:
        self.inventory = inventory
        self.cluster = inventory.cluster
        self.speed_model = speed_model or SpeedModel(self.cluster)
        self.capacity = FreeCapacity(self.cluster)
        self.pool = GpuPool(inventory)
        self.records: dict[int, JobRecord] = {}
        self.jobs: dict[int, JobState] = {}
        self.grants: dict[int, Grant] = {}
        self.pending: dict[str, JobState] = {}
        self.running: dict[str, JobState] = {}
        self.stopping: dict[str, JobState] = {}
        self.stop_reasons: dict[int, StopRequest] = {}

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
        return self.jobs.values()

    def job(self, job_id: int) -> JobState | None:
        return self.jobs.get(job_id)

    def view(self, now: float) -> SchedulerView:
        return SchedulerView(now, self.pending, self.running, self.capacity, self.cluster)

    # --- transitions (the engine's, on the wall clock) ----------------------------------------

    def fits(self, job: JobState, p: Placement) -> bool:
        """Whether `p` is a valid placement for `job` on what is physically free now."""
        if p.num_gpus != job.num_gpus or not job.speeds[p.gpu_type] > 0:
            return False
        node_type, free = self.cluster.node_type, self.capacity.free
        return all(node_type[n] == p.gpu_type and free[n] >= g for n, g in zip(p.nodes, p.gpus))

    def start(self, job: JobState, p: Placement, grant: Grant, now: float) -> None:
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
        self.capacity.allocate(p)
        del self.pending[job.job_id]
        self.running[job.job_id] = job
        self.grants[job.index] = grant
        job.status = JobStatus.RUNNING
        job.placement = p
        job.rate = float(job.speeds[p.gpu_type]) * (self.cluster.spread_slowdown if p.spread else 1.0)
        job.run_start = now
        job.progress_start = now
        if job.first_start is None:
            job.first_start = now
        job.starts += 1
        job.version += 1

    def mark_stopping(self, job: JobState, why: StopRequest) -> None:
        """Asked to stop: hidden from the policy, GPUs held until the process exits."""
        self.stop_reasons[job.index] = why
        if job.job_id in self.running:
            del self.running[job.job_id]
            self.stopping[job.job_id] = job

    def _stop_run(self, job: JobState, now: float) -> None:
        job.remaining = job.remaining_at(now)
        job.attained = job.attained_at(now)
        job.executed = job.executed_at(now)
        job.last_run_duration = now - job.run_start
        assert job.placement is not None
        self.capacity.release(job.placement)
        self.pool.release(self.grants.pop(job.index))
        self.running.pop(job.job_id, None)
        self.stopping.pop(job.job_id, None)
        self.stop_reasons.pop(job.index, None)
        job.placement = None
        job.rate = 0.0
        job.version += 1

    def requeue(self, job: JobState, now: float) -> None:
        """The run ended but the job goes on (preempted, or retried): back to the end of the queue."""
        self._stop_run(job, now)
        job.status = JobStatus.PENDING
        job.preemptions += 1
        job.queued_since = now
        self.pending[job.job_id] = job

    def finish(self, job: JobState, now: float) -> None:
        """The job left the system for good, from running or from the queue (cancelled)."""
        if job.status is JobStatus.RUNNING:
            self._stop_run(job, now)
        else:
            del self.pending[job.job_id]
        job.status = JobStatus.FINISHED
        job.finish_time = now
        del self.jobs[job.index]
        del self.records[job.index]
