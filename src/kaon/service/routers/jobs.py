"""/jobs: submit (one or a batch), list, show, cancel, explain, logs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from kaon.service.admission import AdmissionError, admit
from kaon.security.audit import AuditEntry
from kaon.security.auth import Action, Principal, Role
from kaon.service.deps import Reader, ServiceDep, check_queue, get_job, require
from kaon.service.explain import explain
from kaon.service.runtime import Service
from kaon.service.schemas import NO_NUL, ExplainRead, JobBatchCreate, JobCreate, JobList, JobRead, LogChunk
from kaon.store.records import JobPhase, JobRecord

router = APIRouter(prefix="/jobs", tags=["jobs"])
JobId = Annotated[int, Path(ge=1, le=(1 << 63) - 1, description="job id")]
Submitter = Annotated[Principal, Depends(require(Action.SUBMIT))]
Canceller = Annotated[Principal, Depends(require(Action.CANCEL))]


def _owned(principal: Principal, body: JobCreate) -> JobCreate:
    """A user-role caller submits into its queues, as itself; others may name any user."""
    check_queue(principal, body.queue)
    if principal.role is not Role.USER:
        return body
    if body.user is not None and body.user != principal.user:
        raise HTTPException(403, f"{principal.user} may not submit as user {body.user!r}")
    return body.model_copy(update={"user": principal.user})


def _submit(service: Service, principal: Principal, bodies: list[JobCreate], batch: bool) -> list[JobRead]:
    """Admit all or none, persist them, then tell the loop (persist before acting)."""
    cluster = service.inventory.cluster
    limit = service.settings.default_time_limit_s
    new = []
    for i, body in enumerate(bodies):
        try:
            new.append(admit(_owned(principal, body), cluster, limit))
        except AdmissionError as e:
            raise (AdmissionError(f"jobs.{i}.{e.field}", e.message, e.status) if batch else e) from None
    now = time.time()

    def audit(conn: Connection, records: Sequence[JobRecord]) -> None:
        """The jobs' 'submit' records, in the transaction that inserts them: both or neither."""
        service.audit.write(
            conn, [AuditEntry(principal.actor, "submit", f"job {r.id}", "API request", {"queue": r.queue, "gpus": r.gpus}, now) for r in records]
        )

    records = service.store.add_jobs(new, now, service.log_dir, also=audit)
    service.loop.submitted(records)
    return [JobRead.of(r) for r in records]


@router.post("", status_code=201, response_model=JobRead)
async def submit(body: JobCreate, service: ServiceDep, principal: Submitter) -> JobRead:
    """One job. On an embedded (SQLite) store its transaction runs on the event loop itself:
    about 1 ms of CPU, about what the hand-off to a worker thread and back cost on top of it
    (server CPU per job 3.6-4.0 -> 2.6-3.2 ms, 1.3-1.7x the submissions per second; see
    docs/BENCHMARKS.md). A network database (PostgreSQL) goes to the thread pool, so its round
    trips never stall the loop; so do batches."""
    if service.store.embedded:
        return _submit(service, principal, [body], batch=False)[0]
    return (await run_in_threadpool(_submit, service, principal, [body], False))[0]


@router.post("/batch", status_code=201, response_model=list[JobRead])
def submit_batch(body: JobBatchCreate, service: ServiceDep, principal: Submitter) -> list[JobRead]:
    return _submit(service, principal, body.jobs, batch=True)


@router.get("", response_model=JobList)
def list_jobs(
    service: ServiceDep,
    principal: Reader,
    state: Annotated[list[JobPhase] | None, Query()] = None,
    queue: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    user: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1 << 62)] = 0,
    newest_first: bool = False,
) -> JobList:
    if queue is not None:
        check_queue(principal, queue)
    records, total = service.store.list_jobs(state or (), queue, user, limit, offset, newest_first, principal.queues)
    return JobList(items=[JobRead.of(r) for r in records], total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobRead)
def show(job_id: JobId, service: ServiceDep, principal: Reader) -> JobRead:
    return JobRead.of(get_job(service, job_id, principal))


@router.post("/{job_id}/cancel", response_model=JobRead)
def cancel(job_id: JobId, service: ServiceDep, principal: Canceller) -> JobRead:
    get_job(service, job_id, principal)
    service.audit.append(principal.actor, "cancel-request", f"job {job_id}", "API request")
    return JobRead.of(service.loop.cancel(job_id))


@router.get("/{job_id}/explain", response_model=ExplainRead)
def explain_job(job_id: JobId, service: ServiceDep, principal: Reader) -> ExplainRead:
    record = get_job(service, job_id, principal)
    with service.loop.locked() as book:
        record = service.store.require(job_id)
        why = explain(record, book, time.time(), service.loop.host.spec)
    return ExplainRead.model_validate(why, from_attributes=True)


@router.get("/{job_id}/logs", response_model=LogChunk)
def logs(
    job_id: JobId,
    service: ServiceDep,
    principal: Reader,
    offset: Annotated[int, Query(ge=0, le=1 << 62)] = 0,
    limit: Annotated[int, Query(ge=1, le=16 * 2**20)] = 2**20,
) -> LogChunk:
    record = get_job(service, job_id, principal)
    data = b""
    size = 0
    if record.log_path is not None:
        try:
            with open(record.log_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(min(offset, size))
                data = f.read(limit)
        except FileNotFoundError:
            pass
    nxt = min(offset, size) + len(data)
    return LogChunk(
        job_id=job_id,
        offset=offset,
        next_offset=nxt,
        text=data.decode("utf-8", errors="replace"),
        complete=record.state.terminal and nxt >= size,
    )
