"""`JobStore`: every read and write the service makes, each in one short transaction.

State changes go through `transition`, which updates the job and appends its `job_events` row in
the same transaction, optionally only if the job is still in the state the caller expects: the
event log is then a complete, ordered history, and a stale writer fails loudly instead of
overwriting a newer state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update
from sqlalchemy.orm import sessionmaker

from kaon.security.crypto import Cipher, SecretKeyError, sealed_key_id
from kaon.store.db import open_engine
from kaon.store.migrations import migrate
from kaon.store.models import JobEventRow, JobRow
from kaon.store.prepared import Prepared
from kaon.store.records import (
    Grant,
    JobEvent,
    JobKind,
    JobPhase,
    JobRecord,
    NewJob,
    StopRequest,
)


class StaleStateError(RuntimeError):
    """A transition expected the job in one state and found it in another."""


class UnknownJobError(KeyError):
    """No job has this id."""


@dataclass(frozen=True, slots=True)
class Change:
    """One job's change in a `JobStore.apply` batch: a state transition when `to` is set (with its
    `job_events` row), else fields set without one (the pid once known).

    `record` is the job as its owner (the scheduling loop) holds it: the row must still be in
    `record.state` or the whole batch fails, and `after()` is the job once the change is written,
    built from `record`, not read back (reading back meant decrypting every job's command)."""

    record: JobRecord
    fields: Mapping[str, object] = field(default_factory=dict)
    to: JobPhase | None = None
    detail: str | None = None

    def after(self) -> JobRecord:
        return replace(self.record, state=self.to or self.record.state, **self.fields)  # type: ignore[arg-type]


_UPDATABLE = frozenset(
    {
        "start_time",
        "end_time",
        "exit_code",
        "signal",
        "reason",
        "grant",
        "attempt",
        "pid",
        "stop_request",
        "run_time_s",
        "preemptions",
        "max_rss_mb",
        "cpu_time_s",
    }
)


def _secrets(row: JobRow | Row, cipher: Cipher | None) -> tuple[list, dict]:
    """The job's command and env, opened if they are sealed."""
    if row.sealed is None:
        return row.command, row.env
    if cipher is None:
        raise SecretKeyError(f"job {row.id}: command and env are encrypted; give the key (--key-file or KAON_SECRET_KEY)")
    doc = cipher.open(row.sealed, _aad(row.id))
    assert isinstance(doc, dict)
    return doc["command"], doc["env"]


def _aad(job_id: int) -> str:
    return f"job {job_id}"


def _seal(row: JobRow, cipher: Cipher, command: list, env: dict) -> None:
    row.sealed = cipher.seal({"command": command, "env": env}, _aad(row.id))
    row.command, row.env = [], {}


def _record(row: JobRow | Row, cipher: Cipher | None) -> JobRecord:
    command, env = _secrets(row, cipher)
    return JobRecord(
        id=row.id,
        name=row.name,
        user=row.user,
        command=tuple(command),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items())),
        gpus=row.gpus,
        gpu_types=tuple(row.gpu_types) if row.gpu_types is not None else None,
        cpus=row.cpus,
        memory_mb=row.memory_mb,
        time_limit_s=row.time_limit_s,
        priority=row.priority,
        queue=row.queue,
        kind=JobKind(row.kind),
        job_type=row.job_type,
        retries=row.retries,
        cwd=row.cwd,
        state=JobPhase(row.state),
        submit_time=row.submit_time,
        start_time=row.start_time,
        end_time=row.end_time,
        exit_code=row.exit_code,
        signal=row.signal,
        reason=row.reason,
        grant=Grant.from_json(row.grant) if row.grant is not None else None,
        attempt=row.attempt,
        pid=row.pid,
        stop_request=StopRequest(row.stop_request) if row.stop_request else None,
        run_time_s=row.run_time_s,
        preemptions=row.preemptions,
        max_rss_mb=row.max_rss_mb,
        cpu_time_s=row.cpu_time_s,
        log_path=row.log_path,
    )


def _new_record(job_id: int, job: NewJob, at: float, log_path: str) -> JobRecord:
    """What `_record` reads back for a job just inserted by `add_jobs`."""
    return JobRecord(
        id=job_id,
        name=job.name,
        user=job.user,
        command=tuple(job.command),
        env=tuple(sorted((str(k), str(v)) for k, v in job.env)),
        gpus=job.gpus,
        gpu_types=tuple(job.gpu_types) if job.gpu_types is not None else None,
        cpus=job.cpus,
        memory_mb=job.memory_mb,
        time_limit_s=float(job.time_limit_s),
        priority=job.priority,
        queue=job.queue,
        kind=job.kind,
        job_type=job.job_type,
        retries=job.retries,
        cwd=job.cwd,
        state=JobPhase.PENDING,
        submit_time=at,
        start_time=None,
        end_time=None,
        exit_code=None,
        signal=None,
        reason=None,
        grant=None,
        attempt=0,
        pid=None,
        stop_request=None,
        run_time_s=0.0,
        preemptions=0,
        max_rss_mb=None,
        cpu_time_s=None,
        log_path=log_path,
    )


def _encode(value: object) -> object:
    if isinstance(value, Grant):
        return value.to_json()
    if isinstance(value, StopRequest):
        return value.value
    return value


def _values(fields: dict[str, object]) -> dict[str, object]:
    """`fields` as column values; only the fields a running service may change."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update job field(s) {sorted(unknown)}")
    return {key: _encode(value) for key, value in fields.items()}


_JOBS, _EVENTS = JobRow.__table__, JobEventRow.__table__
# Built once: a statement object memoizes its cache key, and a `Prepared` one its SQLite text, so a
# submission does not pay for building, keying or compiling them again.
_INSERT_JOBS = Prepared(insert(_JOBS).returning(_JOBS.c.id, sort_by_parameter_order=True))
_FILL_JOBS = Prepared(update(_JOBS).where(_JOBS.c.id == bindparam("b_id")).values(log_path=bindparam("b_log"), sealed=bindparam("b_sealed")))
_INSERT_EVENTS = Prepared(insert(_EVENTS))
_GET_JOB = select(_JOBS).where(_JOBS.c.id == bindparam("b_id"))
# The SET clause comes from the parameters' keys (compiled once per set of fields).
_TRANSITION = update(_JOBS).where(_JOBS.c.id == bindparam("b_id"), _JOBS.c.state == bindparam("b_expect")).returning(*_JOBS.c)
_STATE = select(_JOBS.c.state).where(_JOBS.c.id == bindparam("b_id"))
_SET = update(_JOBS).where(_JOBS.c.id == bindparam("b_id"), _JOBS.c.state == bindparam("b_expect"))


class JobStore:
    """The service's repository over one database (migrated to the latest schema on open)."""

    def __init__(self, engine: Engine, cipher: Cipher | None = None) -> None:
        self.engine = engine
        self.cipher = cipher
        """With a cipher, new jobs' command and env are sealed; without, sealed jobs cannot be read."""
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | None = None, cipher: Cipher | None = None) -> JobStore:
        engine = open_engine(url)
        migrate(engine)
        return cls(engine, cipher)

    @property
    def embedded(self) -> bool:
        """True for SQLite: the database is a local file in this process, so a short write costs
        about a millisecond of CPU and never waits on a network round trip."""
        return self.engine.dialect.name == "sqlite"

    def _rec(self, row: JobRow | Row) -> JobRecord:
        return _record(row, self.cipher)

    def close(self) -> None:
        self.engine.dispose()

    # --- jobs ---------------------------------------------------------------------------------

    def add_jobs(
        self,
        jobs: Sequence[NewJob],
        at: float,
        log_dir: Path,
        also: Callable[[Connection, Sequence[JobRecord]], object] | None = None,
    ) -> list[JobRecord]:
        """Insert `jobs` as PENDING, all or none, each with its 'submitted' event and log path.

        `also(conn, records)` runs inside the same transaction once the rows are written (the
        service writes the jobs' audit records there): if it raises, no job is inserted, and a
        crash before the commit leaves neither the jobs nor what it wrote.

        Prepared Core statements, not ORM objects: per-row unit-of-work bookkeeping was most of a
        submission's cost, and SQLAlchemy's per-call work most of the rest (`kaon.store.prepared`).
        Ids come back from INSERT ... RETURNING in parameter order; the log path and the sealed
        command and env (bound to the id) are then set in the same transaction, so plaintext
        secrets are never committed. The records are built from the inputs, not read back and
        decrypted again."""
        if not jobs:
            return []
        sealing = self.cipher is not None
        values = [
            {
                "name": j.name,
                "user": j.user,
                "command": [] if sealing else list(j.command),
                "env": {} if sealing else dict(j.env),
                "gpus": j.gpus,
                "gpu_types": list(j.gpu_types) if j.gpu_types is not None else None,
                "cpus": j.cpus,
                "memory_mb": j.memory_mb,
                "time_limit_s": j.time_limit_s,
                "priority": j.priority,
                "queue": j.queue,
                "kind": j.kind.value,
                "job_type": j.job_type,
                "retries": j.retries,
                "cwd": j.cwd,
                "state": JobPhase.PENDING.value,
                "submit_time": at,
                "attempt": 0,
                "run_time_s": 0.0,
                "preemptions": 0,
            }
            for j in jobs
        ]
        with self.engine.begin() as conn:
            ids = [row[0] for row in _INSERT_JOBS.rows(conn, values)]
            logs = [str(log_dir / f"{i}.log") for i in ids]
            fill = [
                {
                    "b_id": i,
                    "b_log": path,
                    "b_sealed": self.cipher.seal({"command": list(j.command), "env": dict(j.env)}, _aad(i)) if self.cipher is not None else None,
                }
                for i, path, j in zip(ids, logs, jobs)
            ]
            _FILL_JOBS.run(conn, fill)
            _INSERT_EVENTS.run(
                conn,
                [{"job_id": i, "at": at, "from_state": None, "to_state": JobPhase.PENDING.value, "detail": "submitted"} for i in ids],
            )
            records = [_new_record(i, j, at, path) for i, j, path in zip(ids, jobs, logs)]
            if also is not None:
                also(conn, records)
        return records

    def get(self, job_id: int) -> JobRecord | None:
        """One job by id: a Core select, not an ORM session, which was most of a `GET /jobs/{id}`."""
        with self.engine.connect() as conn:
            row = conn.execute(_GET_JOB, {"b_id": job_id}).first()
        return self._rec(row) if row is not None else None

    def require(self, job_id: int) -> JobRecord:
        job = self.get(job_id)
        if job is None:
            raise UnknownJobError(job_id)
        return job

    def list_jobs(
        self,
        states: Iterable[JobPhase] = (),
        queue: str | None = None,
        user: str | None = None,
        limit: int = 100,
        offset: int = 0,
        newest_first: bool = False,
        queues: Sequence[str] | None = None,
    ) -> tuple[list[JobRecord], int]:
        """One page of jobs matching the filters, and how many match in all. `queues` restricts
        to a set of queues (a caller's scope), on top of the single `queue` filter."""
        where = []
        wanted = [p.value for p in states]
        if wanted:
            where.append(JobRow.state.in_(wanted))
        if queue is not None:
            where.append(JobRow.queue == queue)
        if user is not None:
            where.append(JobRow.user == user)
        if queues is not None:
            where.append(JobRow.queue.in_(list(queues)))
        order = JobRow.id.desc() if newest_first else JobRow.id
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(JobRow).where(*where)) or 0
            rows = s.scalars(select(JobRow).where(*where).order_by(order).limit(limit).offset(offset)).all()
            return [self._rec(r) for r in rows], int(total)

    def active(self) -> list[JobRecord]:
        """PENDING and RUNNING jobs in submission order: what a restarted service must resume."""
        jobs, _ = self.list_jobs((JobPhase.PENDING, JobPhase.RUNNING), limit=2**62)
        return jobs

    def transition(
        self,
        job_id: int,
        to: JobPhase,
        at: float,
        detail: str | None = None,
        *,
        expect: JobPhase | None = None,
        also: Callable[[Connection, JobRecord], object] | None = None,
        **fields: object,
    ) -> JobRecord:
        """Move a job to `to` (recording the event) and set `fields`, atomically. `also(conn,
        record)` runs in the same transaction (the loop writes the decision's audit record there).

        One conditional UPDATE ... RETURNING, not an ORM load, lock and flush: a scheduling cycle
        persists a transition per job it starts or sees end, and that ORM round was most of a
        busy cycle. Without `expect`, the state is read first and the update still requires it,
        so a concurrent change fails loudly instead of being overwritten."""
        values = _values(fields)
        with self.engine.begin() as conn:
            src = expect.value if expect is not None else self._state(conn, job_id)
            row = conn.execute(_TRANSITION, {"b_id": job_id, "b_expect": src, "state": to.value, **values}).first()
            if row is None:
                raise StaleStateError(f"job {job_id} is {self._state(conn, job_id)}, expected {src}")
            _INSERT_EVENTS.run(conn, {"job_id": job_id, "at": at, "from_state": src, "to_state": to.value, "detail": detail})
            record = self._rec(row)
            if also is not None:
                also(conn, record)
            return record

    def apply(
        self, changes: Sequence[Change], at: float, also: Callable[[Connection, Sequence[JobRecord]], object] | None = None
    ) -> list[JobRecord]:
        """Write `changes` in order, all in one transaction, and return each job as changed.

        A scheduling cycle's transitions (the jobs that ended, the ones it preempts and starts)
        are one commit, not one each: a transaction per job was most of a busy cycle. `also(conn,
        records)` runs inside it (the decisions' audit records), so a crash leaves all of it or
        none. A row no longer in its record's state fails the batch (`StaleStateError`), nothing
        written."""
        if not changes:
            return []
        with self.engine.begin() as conn:
            events = []
            for c in changes:
                src = c.record.state.value
                values = _values(dict(c.fields))
                if c.to is not None:
                    values["state"] = c.to.value
                    events.append({"job_id": c.record.id, "at": at, "from_state": src, "to_state": c.to.value, "detail": c.detail})
                if conn.execute(_SET, {"b_id": c.record.id, "b_expect": src, **values}).rowcount != 1:
                    raise StaleStateError(f"job {c.record.id} is {self._state(conn, c.record.id)}, expected {src}")
            if events:
                _INSERT_EVENTS.run(conn, events)
            records = [c.after() for c in changes]
            if also is not None:
                also(conn, records)
        return records

    @staticmethod
    def _state(conn: Connection, job_id: int) -> str:
        state = conn.execute(_STATE, {"b_id": job_id}).scalar()
        if state is None:
            raise UnknownJobError(job_id)
        return str(state)

    def events(self, job_id: int | None = None) -> list[JobEvent]:
        with self._session() as s:
            q = select(JobEventRow).order_by(JobEventRow.id)
            if job_id is not None:
                q = q.where(JobEventRow.job_id == job_id)
            return [
                JobEvent(
                    e.id, e.job_id, e.at, JobPhase(e.from_state) if e.from_state else None, JobPhase(e.to_state), e.detail
                )
                for e in s.scalars(q)
            ]

    def rotate_key(self, old: Sequence[Cipher], new: Cipher) -> int:
        """Re-seal every job's command and env under `new` in one transaction (all rows or none);
        plaintext rows (from before encryption) are sealed too. Returns the number of rows.

        Each row is opened with whichever of `old` and `new` it names, so a rotation that was
        interrupted, repeated, or raced by a service still sealing under an old key can be
        finished by running it again with every key involved."""
        keys = {c.key_id: c for c in (*old, new)}
        with self._session.begin() as s:
            rows = s.scalars(select(JobRow).order_by(JobRow.id).with_for_update()).all()
            for row in rows:
                cipher = None
                if row.sealed is not None:
                    key_id = sealed_key_id(row.sealed)
                    cipher = keys.get(key_id)
                    if cipher is None:
                        raise SecretKeyError(
                            f"job {row.id}: sealed with key {key_id}, which is neither the new key nor an old one given"
                        )
                command, env = _secrets(row, cipher)
                _seal(row, new, command, env)
            return len(rows)

    def counts(self) -> list[tuple[str, JobPhase, int]]:
        """(queue, state, number of jobs) for every pair that has jobs."""
        with self._session() as s:
            rows = s.execute(
                select(JobRow.queue, JobRow.state, func.count()).group_by(JobRow.queue, JobRow.state)
            ).all()
            return sorted((q, JobPhase(st), int(n)) for q, st, n in rows)
