"""The job store: migrations, transitions with their event log, filters; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from kaon.security.audit import AuditLog
from kaon.store.db import open_engine
from kaon.store.migrations import STEPS, MigrationError, Step, current_version, migrate
from kaon.store.records import Grant, GrantSlice, JobKind, JobPhase, NewJob, StopRequest
from kaon.store.repo import Change, JobStore, StaleStateError, UnknownJobError


@pytest.fixture
def store(db_url: str) -> JobStore:
    s = JobStore.open(db_url)
    yield s
    s.close()


def _job(**kw: object) -> NewJob:
    base: dict[str, object] = {"command": ("sleep", "1"), "gpus": 1, "time_limit_s": 60.0}
    base.update(kw)
    return NewJob(**base)  # type: ignore[arg-type]


def test_sqlite_is_in_wal_mode(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_only_sqlite_counts_as_embedded(store: JobStore, db_url: str) -> None:
    """The service writes a single submission on its event loop only for an embedded store."""
    assert store.embedded is db_url.startswith("sqlite")


def test_migrate_is_versioned_and_idempotent(db_url: str) -> None:
    engine = open_engine(db_url)
    assert current_version(engine) == 0
    assert migrate(engine) == STEPS[-1].version
    assert migrate(engine) == STEPS[-1].version
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM kaon_schema")).scalar() == len(STEPS)


def test_migrate_applies_only_new_steps_and_keeps_data(db_url: str, tmp_path: Path) -> None:
    store = JobStore.open(db_url)
    store.add_jobs([_job()], at=1.0, log_dir=tmp_path)
    ran: list[int] = []

    nxt = STEPS[-1].version + 1

    def add_column(conn) -> None:  # noqa: ANN001
        ran.append(nxt)
        conn.execute(text("ALTER TABLE jobs ADD COLUMN note TEXT"))

    assert migrate(store.engine, STEPS + (Step(nxt, "note", add_column),)) == nxt
    assert migrate(store.engine, STEPS + (Step(nxt, "note", add_column),)) == nxt
    assert ran == [nxt]
    assert store.get(1) is not None


def test_a_version_1_database_is_upgraded_in_place(db_url: str) -> None:
    engine = open_engine(db_url)
    assert migrate(engine, STEPS[:1]) == 1
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobs (name, \"user\", command, env, gpus, cpus, memory_mb, time_limit_s, priority, queue, kind,"
                " retries, state, submit_time, attempt, run_time_s, preemptions)"
                " VALUES ('old', 'u', '[\"true\"]', '{}', 1, 1, 0, 60, 0, 'default', 'training', 0, 'PENDING', 1, 0, 0, 0)"
            )
        )
    store = JobStore.open(db_url)
    assert current_version(store.engine) == STEPS[-1].version
    assert store.require(1).command == ("true",)


def test_database_newer_than_code_is_refused(db_url: str) -> None:
    engine = open_engine(db_url)
    migrate(engine, STEPS + (Step(99, "future", lambda conn: None),))
    with pytest.raises(MigrationError, match="version 99"):
        migrate(engine)


def test_add_and_read_back(store: JobStore, tmp_path: Path) -> None:
    [rec] = store.add_jobs(
        [
            _job(
                name="a",
                user="ann",
                env=(("X", "1"),),
                gpu_types=("v100",),
                kind=JobKind.INFERENCE,
                queue="q1",
                priority=3,
            )
        ],
        at=10.0,
        log_dir=tmp_path,
    )
    got = store.require(rec.id)
    assert got == rec
    assert got.state is JobPhase.PENDING and got.attempt == 0
    assert got.env == (("X", "1"),) and got.gpu_types == ("v100",) and got.kind is JobKind.INFERENCE
    assert got.log_path == str(tmp_path / f"{rec.id}.log")
    assert [(e.from_state, e.to_state) for e in store.events(rec.id)] == [(None, JobPhase.PENDING)]


def test_transition_records_event_and_fields(store: JobStore, tmp_path: Path) -> None:
    [rec] = store.add_jobs([_job()], at=0.0, log_dir=tmp_path)
    grant = Grant("v100", 0, (GrantSlice(0, "n0", (2, 3)),))
    run = store.transition(rec.id, JobPhase.RUNNING, 5.0, "started", expect=JobPhase.PENDING, grant=grant, attempt=1)
    assert run.grant == grant and run.grant.devices == (2, 3)
    store.transition(rec.id, JobPhase.RUNNING, 5.5, "cancel requested", expect=JobPhase.RUNNING, pid=1234, stop_request=StopRequest.CANCEL)
    assert store.require(rec.id).pid == 1234
    assert store.require(rec.id).stop_request is StopRequest.CANCEL
    with pytest.raises(StaleStateError):
        store.transition(rec.id, JobPhase.RUNNING, 6.0, expect=JobPhase.PENDING)
    done = store.transition(rec.id, JobPhase.COMPLETED, 7.0, exit_code=0, end_time=7.0)
    assert done.state is JobPhase.COMPLETED and done.exit_code == 0
    assert [e.to_state for e in store.events(rec.id)] == [JobPhase.PENDING, JobPhase.RUNNING, JobPhase.RUNNING, JobPhase.COMPLETED]


def test_apply_writes_a_batch_in_order_and_returns_what_it_wrote(store: JobStore, tmp_path: Path) -> None:
    a, b, c = store.add_jobs([_job(), _job(), _job(retries=1)], at=0.0, log_dir=tmp_path)
    grant = Grant("v100", 0, (GrantSlice(0, "n0", (1,)),))
    start = Change(a, {"grant": grant, "attempt": 1, "start_time": 5.0}, JobPhase.RUNNING, "attempt 1")
    pid = Change(start.after(), {"pid": 77})  # the same job twice: the second builds on the first
    cancel = Change(b, {"end_time": 5.0}, JobPhase.CANCELLED, "cancelled while pending")
    audit = AuditLog(store.engine)
    records = store.apply([start, pid, cancel], 5.0, also=lambda conn, recs: audit.write(conn, []))
    assert records[1:] == [store.require(a.id), store.require(b.id)]
    assert records[1].state is JobPhase.RUNNING and records[1].pid == 77 and records[1].grant == grant
    assert records[0] == replace(records[1], pid=None) and records[2].end_time == 5.0
    assert [(e.job_id, e.from_state, e.to_state, e.detail) for e in store.events() if e.at == 5.0] == [
        (a.id, JobPhase.PENDING, JobPhase.RUNNING, "attempt 1"),
        (b.id, JobPhase.PENDING, JobPhase.CANCELLED, "cancelled while pending"),
    ]  # the pid update is no transition
    assert store.require(c.id) == c


def test_apply_is_all_or_nothing(store: JobStore, tmp_path: Path) -> None:
    a, b = store.add_jobs([_job(), _job()], at=0.0, log_dir=tmp_path)
    store.transition(b.id, JobPhase.CANCELLED, 1.0, end_time=1.0)
    run = Change(a, {"attempt": 1}, JobPhase.RUNNING, "attempt 1")
    with pytest.raises(StaleStateError, match=f"job {b.id} is CANCELLED, expected PENDING"):
        store.apply([run, Change(b, {}, JobPhase.RUNNING, "attempt 1")], 2.0)

    def fail(*_: object) -> None:
        raise RuntimeError("audit down")

    with pytest.raises(RuntimeError, match="audit down"):
        store.apply([run], 2.0, also=fail)
    assert store.require(a.id) == a
    assert [e.to_state for e in store.events(a.id)] == [JobPhase.PENDING]
    assert store.apply([], 3.0) == []


def test_unknown_ids_and_fields(store: JobStore, tmp_path: Path) -> None:
    assert store.get(42) is None
    with pytest.raises(UnknownJobError):
        store.require(42)
    with pytest.raises(UnknownJobError):
        store.transition(42, JobPhase.FAILED, 0.0)
    [rec] = store.add_jobs([_job()], at=0.0, log_dir=tmp_path)
    with pytest.raises(ValueError, match="command"):
        store.transition(rec.id, JobPhase.CANCELLED, 1.0, command=["x"])


def test_list_filters_and_pagination(store: JobStore, tmp_path: Path) -> None:
    store.add_jobs([_job(queue="a", user="u1")] * 3 + [_job(queue="b", user="u2")] * 2, at=0.0, log_dir=tmp_path)
    store.transition(2, JobPhase.RUNNING, 1.0)
    assert store.list_jobs(queue="a")[1] == 3
    assert store.list_jobs(user="u2")[1] == 2
    assert [j.id for j in store.list_jobs(states=(JobPhase.RUNNING,))[0]] == [2]
    page, total = store.list_jobs(limit=2, offset=2)
    assert total == 5 and [j.id for j in page] == [3, 4]
    assert [j.id for j in store.list_jobs(limit=2, newest_first=True)[0]] == [5, 4]
    assert [j.id for j in store.active()] == [1, 2, 3, 4, 5]
    assert store.counts() == [("a", JobPhase.PENDING, 2), ("a", JobPhase.RUNNING, 1), ("b", JobPhase.PENDING, 2)]


def test_values_sqlite_took_fit_postgresql_too(store: JobStore, tmp_path: Path) -> None:
    """memory_mb up to the API's 2**40 (past a 32-bit INTEGER) and a 100-character user's actor."""
    [rec] = store.add_jobs([_job(memory_mb=1 << 40)], at=0.0, log_dir=tmp_path)
    assert store.require(rec.id).memory_mb == 1 << 40
    audit = AuditLog(store.engine)
    audit.append("u" * 100 + " (operator)", "cancel", f"job {rec.id}", "test")
    assert audit.verify().ok
