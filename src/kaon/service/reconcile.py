"""Start-up reconciliation: make the in-memory book agree with the store and with what is really
running, so that a crash loses no job and runs none twice.

For every job the store calls RUNNING, the executor is asked to find it (by pid, or by the tag in
its environment if the pid was never recorded):
- found alive: adopted with the devices it was granted; a stop requested before the crash is sent
  again;
- ended while the service was down: followed anyway, and its recorded exit is applied by the loop
  as the first event, like any other end;
- no trace it ever started (the service died between persisting RUNNING and launching): put back
  in the queue with its attempt not counted (or CANCELLED if a cancel had been requested).
PENDING jobs simply rejoin the queue in submission order. Then the policy is rebuilt from the book.
"""

from __future__ import annotations

from dataclasses import dataclass

from kaon.executors.base import Executor, Recovery
from kaon.service.book import JobBook
from kaon.service.outcomes import run_request
from kaon.service.policy_host import PAST_JOBS, PolicyHost
from kaon.store.history import recent_completions
from kaon.store.records import JobPhase, StopRequest
from kaon.store.repo import JobStore


@dataclass(frozen=True, slots=True)
class Reconciled:
    pending: int
    adopted: int
    requeued: int
    cancelled: int


def reconcile(
    store: JobStore, executor: Executor, book: JobBook, host: PolicyHost, now: float, grace_s: float
) -> Reconciled:
    pending = adopted = requeued = cancelled = 0
    for record in store.active():
        if record.state is JobPhase.PENDING:
            book.add(record)
            pending += 1
            continue
        if record.grant is None:
            raise RuntimeError(f"job {record.id} is RUNNING in the store without a grant: the store is inconsistent")
        found = executor.recover(run_request(record), record.grant, record.pid, record.start_time)
        if found is Recovery.TRACKED:
            job = book.add(record)
            assert job is not None
            book.adopt(job, record.grant, record.start_time if record.start_time is not None else now)
            if record.stop_request is not None:
                book.mark_stopping(job, record.stop_request)
                stop = executor.cancel if record.stop_request is StopRequest.CANCEL else executor.preempt
                stop(record.id, grace_s)
            adopted += 1
        elif record.stop_request is StopRequest.CANCEL:
            store.transition(
                record.id, JobPhase.CANCELLED, now, "cancelled; it had not started", expect=JobPhase.RUNNING,
                end_time=now, stop_request=None, grant=None,
            )
            cancelled += 1
        else:
            record = store.transition(
                record.id, JobPhase.PENDING, now, "requeued: it had not started when the service stopped",
                expect=JobPhase.RUNNING, attempt=record.attempt - 1, grant=None, pid=None, start_time=None,
                stop_request=None,
            )
            book.add(record)
            requeued += 1
    host.remember(recent_completions(store, PAST_JOBS))
    host.rebuild(book)
    return Reconciled(pending, adopted, requeued, cancelled)
