"""Feedback from the service to the simulator: the jobs a cluster really ran, as a kaon trace.

Only COMPLETED jobs are exported: their run time is a true duration. A job that failed, timed out
or was cancelled stopped early for reasons that say nothing about how long its work takes, so
replaying it with that run time would teach the simulator a wrong workload.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kaon.core.job import JobSpec, PriorJob, Trace
from kaon.store.records import JobPhase, JobRecord
from kaon.security.crypto import Cipher
from kaon.store.repo import JobStore
from kaon.traces.canonical import write_canonical


def history_trace(store: JobStore) -> Trace:
    """Completed jobs as a `Trace` dated from the first submission; duration = measured run time."""
    jobs, _ = store.list_jobs((JobPhase.COMPLETED,), limit=2**62)
    if not jobs:
        return Trace((), "kaon-service", "canonical", None)
    epoch = min(j.submit_time for j in jobs)
    specs = [_spec(j, epoch) for j in jobs]
    return Trace(tuple(specs), "kaon-service", "canonical", datetime.fromtimestamp(epoch, UTC))


def recent_completions(store: JobStore, limit: int) -> list[PriorJob]:
    """The `limit` most recently submitted COMPLETED jobs, in finish order, on the service's clock
    (what a restarted service's policy is told of: `Policy.jobs_finished_before`)."""
    jobs, _ = store.list_jobs((JobPhase.COMPLETED,), limit=limit, newest_first=True)
    done = [PriorJob(_spec(j, 0.0), j.end_time) for j in jobs if j.end_time is not None]
    return sorted(done, key=lambda p: p.finish)


def _spec(job: JobRecord, epoch: float) -> JobSpec:
    if not job.run_time_s > 0:
        raise ValueError(f"job {job.id} is COMPLETED with run time {job.run_time_s}: the store is inconsistent")
    return JobSpec(
        job_id=str(job.id),
        submit_time=job.submit_time - epoch,
        duration=job.run_time_s,
        num_gpus=job.gpus,
        queue=job.queue,
        job_type=job.job_type,
        user=job.user,
        name=job.name,
        allowed_types=job.gpu_types,
        priority=job.priority,
    )


def export_history(url: str | None, path: str | Path, cipher: Cipher | None = None) -> int:
    """Write the completed jobs of the database at `url` as canonical CSV; returns how many.
    A database whose job secrets are sealed needs its `cipher` to read job rows."""
    store = JobStore.open(url, cipher)
    try:
        trace = history_trace(store)
    finally:
        store.close()
    write_canonical(trace, path)
    return len(trace)
