"""Why a job is waiting: free GPUs per type against its need, its place in the queue, and the
earliest it could start if running jobs used their whole time limits.

The prediction is a bound, not a promise: it assumes running jobs end exactly at their time limit
and that nothing ahead in the queue takes the GPUs first. It is computed from the live book under
the loop's lock; nothing here is on the scheduling hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kaon.service.book import JobBook
from kaon.store.records import JobPhase, JobRecord


@dataclass(frozen=True, slots=True)
class TypeReason:
    gpu_type: str
    allowed: bool
    free: int
    total: int
    needed: int
    message: str


@dataclass(frozen=True, slots=True)
class Explanation:
    job_id: int
    state: JobPhase
    message: str
    queue_position: int | None = None
    queue_length: int | None = None
    reasons: tuple[TypeReason, ...] = ()
    predicted_start: float | None = None
    held: str | None = None


def explain(record: JobRecord, book: JobBook, now: float, policy: str) -> Explanation:
    if record.state is not JobPhase.PENDING:
        return Explanation(record.id, record.state, _not_pending(record))
    job = book.job(record.id)
    if job is None:  # submitted, not yet seen by the loop
        return Explanation(record.id, record.state, "just submitted; the scheduler has not considered it yet")
    held = book.held.get(record.id)
    if held is not None:
        message = f"held ({held}); it will not start until an operator releases it (kaon admin release {record.id}) or it is cancelled"
        return Explanation(record.id, record.state, message, held=held)
    cluster = book.cluster
    cap = book.capacity
    totals = cluster.gpus_per_type()
    g = job.num_gpus
    reasons = []
    for t, name in enumerate(cluster.type_names):
        allowed = bool(job.speeds[t] > 0)
        free, total = int(cap.free_per_type[t]), int(totals[t])
        if not allowed:
            msg = f"{name}: not allowed by the job's gpu_types"
        else:
            msg = f"{free}/{total} free {name} GPUs, needs {g}"
        reasons.append(TypeReason(name, allowed, free, total, g, msg))
    order = list(book.pending)
    position = order.index(job.job_id) + 1
    predicted = _earliest_start(record, book, now)
    fits_now = any(r.allowed and r.free >= g for r in reasons)
    if fits_now:
        message = f"enough GPUs are free; policy {policy} has not started it ({position - 1} jobs ahead in the queue)"
    else:
        message = f"waiting for GPUs under policy {policy}: " + "; ".join(r.message for r in reasons if r.allowed)
    return Explanation(record.id, record.state, message, position, len(order), tuple(reasons), predicted)


def _earliest_start(record: JobRecord, book: JobBook, now: float) -> float | None:
    """The first instant some allowed type has `gpus` free, if every running (or stopping) job
    ends at its time limit and nothing else starts meanwhile."""
    job = book.jobs[record.id]
    best: float | None = None
    for t in np.flatnonzero(job.speeds > 0):
        free = int(book.capacity.free_per_type[t])
        if free >= job.num_gpus:
            return now
        ends = sorted(
            (max(now, other.run_start + book.records[other.index].time_limit_s), other.num_gpus)
            for other in (*book.running.values(), *book.stopping.values())
            if other.placement is not None and other.placement.gpu_type == t
        )
        for end, gpus in ends:
            free += gpus
            if free >= job.num_gpus:
                best = end if best is None else min(best, end)
                break
    return best


def _not_pending(record: JobRecord) -> str:
    if record.state is JobPhase.RUNNING:
        where = ", ".join(record.grant.node_names) if record.grant else "?"
        devices = list(record.grant.devices) if record.grant else []
        stopping = f"; {record.stop_request.value} requested" if record.stop_request else ""
        return f"running since {record.start_time} on {where}, GPUs {devices}{stopping}"
    return f"{record.state.value}: {record.reason or 'no reason recorded'}"
