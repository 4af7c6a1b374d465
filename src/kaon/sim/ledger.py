"""`JobLedger`: pending and running jobs, free capacity, and the state transitions between them.

The one piece of bookkeeping shared by the simulator's engine and the service's `JobBook`: starting
a job on a placement, stopping its run (keeping progress), sending it back to the queue, and
finishing it. Only the clock differs: the engine passes simulated time, the service wall time.
"""

from __future__ import annotations

from kaon.core.cluster import ClusterSpec
from kaon.core.placement import FreeCapacity, Placement
from kaon.policy.base import SchedulerView
from kaon.sim.state import JobState, JobStatus


class TransitionError(RuntimeError):
    """A transition was asked of a job in the wrong state: a bug in a policy or in kaon."""


class JobLedger:
    def __init__(self, cluster: ClusterSpec) -> None:
        self.cluster = cluster
        self.capacity = FreeCapacity(cluster)
        self.pending: dict[str, JobState] = {}
        self.running: dict[str, JobState] = {}

    def view(self, now: float) -> SchedulerView:
        return SchedulerView(now, self.pending, self.running, self.capacity, self.cluster)

    def enqueue(self, job: JobState) -> None:
        self.pending[job.job_id] = job

    def start(self, job: JobState, p: Placement, now: float, restart_overhead_s: float = 0.0) -> None:
        """Run a pending job on `p`. A restart (not its first start) spends `restart_overhead_s`
        restoring its checkpoint before it progresses again."""
        if job.status is not JobStatus.PENDING or job.job_id not in self.pending:
            raise TransitionError(f"cannot start {job.job_id}: it is {job.status.value}")
        if p.num_gpus != job.num_gpus:
            raise TransitionError(f"placement of {job.job_id} has {p.num_gpus} GPUs, job asks {job.num_gpus}")
        speed = float(job.speeds[p.gpu_type])
        if speed <= 0:
            raise TransitionError(f"{job.job_id} placed on a GPU type it may not use")
        self.capacity.allocate(p)
        del self.pending[job.job_id]
        self.running[job.job_id] = job
        job.status = JobStatus.RUNNING
        job.placement = p
        job.rate = speed * (self.cluster.spread_slowdown if p.spread else 1.0)
        job.run_start = now
        job.progress_start = now + (restart_overhead_s if job.starts > 0 else 0.0)
        if job.first_start is None:
            job.first_start = now
        job.starts += 1
        job.version += 1

    def stop_run(self, job: JobState, now: float) -> None:
        """End the current run: fold its progress into the job and free its GPUs."""
        if job.placement is None:
            raise TransitionError(f"cannot stop {job.job_id}: it holds no GPUs")
        job.remaining = job.remaining_at(now)
        job.attained = job.attained_at(now)
        job.executed = job.executed_at(now)
        job.last_run_duration = now - job.run_start
        self.capacity.release(job.placement)
        self.running.pop(job.job_id, None)
        job.placement = None
        job.rate = 0.0
        job.version += 1

    def requeue(self, job: JobState, now: float) -> None:
        """Preempted (or retried): the run ends, progress is kept, back to the end of the queue."""
        if job.status is not JobStatus.RUNNING:
            raise TransitionError(f"cannot preempt {job.job_id}: it is {job.status.value}")
        self.stop_run(job, now)
        job.status = JobStatus.PENDING
        job.preemptions += 1
        job.queued_since = now
        self.pending[job.job_id] = job

    def finish(self, job: JobState, now: float) -> None:
        """The job leaves the system for good, from a run or straight from the queue."""
        if job.status is JobStatus.RUNNING:
            self.stop_run(job, now)
        elif job.status is JobStatus.PENDING:
            del self.pending[job.job_id]
        else:
            raise TransitionError(f"{job.job_id} finished twice")
        job.status = JobStatus.FINISHED
        job.finish_time = now
