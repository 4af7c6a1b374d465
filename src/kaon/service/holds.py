"""Held jobs: PENDING in the store, kept out of the policy's sight until an operator releases them.

A hold is not a job state of its own. The store keeps the job PENDING (a held job is waiting, and a
new phase would ripple through the store, reconciliation and every client); the `JobBook` keeps it
in `held` instead of `pending`, and the policy gets no hook for it, so nothing can start it. The
audit log is the hold's durable record: each hold and release is written there with its actor and
reason, and a restarted service re-holds every PENDING job whose last such record is a hold.
"""

from __future__ import annotations

from collections.abc import Mapping

from kaon.security.anomaly import Anomaly, SubmissionWatch
from kaon.security.audit import AuditLog
from kaon.service.book import JobBook
from kaon.sim.state import JobState
from kaon.store.records import JobRecord

HOLD = "hold"
RELEASE = "release"
HOLD_ACTOR = "anomaly-detector"
"""The audit actor of automatic holds (`kaon serve --hold-anomalous`)."""


class NotHeldError(LookupError):
    """A release of a job that is not held."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} is not held")
        self.job_id = job_id


def target(job_id: int) -> str:
    return f"job {job_id}"


def held_jobs(audit: AuditLog) -> dict[int, str]:
    """Job id -> reason, for every job whose last hold-or-release audit record is a hold."""
    records = sorted(audit.records(action=HOLD) + audit.records(action=RELEASE), key=lambda r: r.seq)
    held: dict[int, str] = {}
    for r in records:
        if r.target is None or not r.target.startswith("job "):
            continue
        job_id = int(r.target.removeprefix("job "))
        if r.action == HOLD:
            held[job_id] = r.reason or "held"
        else:
            held.pop(job_id, None)
    return held


class HoldKeeper:
    """Holds and releases on the loop's book, each audited. Used on the scheduling loop's thread.

    With a `SubmissionWatch` (`--hold-anomalous`), a job is held when it is admitted as part of a
    burst, asks far more than its user ever did, or comes from a user whose last jobs all failed;
    and a job back in the queue after running far past its time limit is held instead of being
    restarted. Without one, only holds restored from the audit log exist, and they can be released.
    """

    def __init__(self, audit: AuditLog | None, watch: SubmissionWatch | None = None) -> None:
        self.audit = audit
        self.watch = watch

    def submitted(self, book: JobBook, job: JobState, record: JobRecord, now: float) -> bool:
        """Whether the new `job` was held (the policy must then not hear of it)."""
        if self.watch is None:
            return False
        flag = self.watch.submitted(record, now)
        return flag is not None and self._hold(book, job, flag, now)

    def requeued(self, book: JobBook, job: JobState, record: JobRecord, now: float) -> bool:
        """Whether `job`, just back in the queue, was held (the policy must then forget it)."""
        if self.watch is None:
            return False
        flag = self.watch.requeued(record)
        return flag is not None and self._hold(book, job, flag, now)

    def ended(self, record: JobRecord) -> None:
        if self.watch is not None:
            self.watch.ended(record)

    def restore(self, book: JobBook, held: Mapping[int, str]) -> int:
        """Re-hold the tracked pending jobs among `held` (from `held_jobs`, at start-up)."""
        n = 0
        for job_id, reason in held.items():
            job = book.job(job_id)
            if job is not None and job.job_id in book.pending:
                book.hold(job, reason)
                n += 1
        return n

    def release(self, book: JobBook, job_id: int, actor: str, reason: str, now: float) -> JobState:
        """Put a held job back in the queue; the caller tells the policy it arrived."""
        job = book.job(job_id)
        if job is None or job.index not in book.held:
            raise NotHeldError(job_id)
        why = book.held[job.index]
        # Recorded first: a release the audit log could not record must not happen.
        if self.audit is not None:
            self.audit.append(actor, RELEASE, target(job_id), reason, {"hold": why}, now)
        book.release(job)
        return job

    def _hold(self, book: JobBook, job: JobState, flag: Anomaly, now: float) -> bool:
        reason = f"{flag.kind}: {flag.message}"
        book.hold(job, reason)
        if self.audit is not None:
            self.audit.append(HOLD_ACTOR, HOLD, target(job.index), reason, {"kind": flag.kind, "subject": flag.subject, "score": flag.score}, now)
        return True
