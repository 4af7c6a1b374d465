"""The audit chain: intact when untouched; an edit, a deletion or a reordering is named by seq. It
stays one unbroken chain when written in batches, inside other transactions, by threads and
processes at once, and through a rollback or a kill -9 mid-batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from kaon.cli import admin
from kaon.security.audit import GENESIS, AuditEntry, AuditLog
from kaon.store.db import open_engine
from kaon.store.migrations import migrate
from kaon.store.records import NewJob
from kaon.store.repo import JobStore
from tests.security.conftest import bearer


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    engine = open_engine(f"sqlite:///{tmp_path / 'a.db'}")
    migrate(engine)
    audit = AuditLog(engine)
    for i in range(1, 7):
        audit.append("alice (user)", "submit", f"job {i}", "API request", {"gpus": i}, at=1000.0 + i)
    return audit


def _sql(log: AuditLog, statement: str) -> None:
    with log.engine.begin() as conn:
        conn.execute(text(statement))


def test_untouched_chain_verifies(log: AuditLog) -> None:
    v = log.verify()
    assert v.ok and v.records == 6 and v.bad_seq is None
    assert log.head()[0] == 6


def test_edit_is_detected_at_its_seq(log: AuditLog) -> None:
    _sql(log, "UPDATE audit_log SET actor = 'mallory (admin)' WHERE seq = 3")
    v = log.verify()
    assert not v.ok and v.bad_seq == 3 and "modified" in v.message


def test_edit_with_recomputed_hash_breaks_the_next_link(log: AuditLog) -> None:
    from kaon.security.audit import record_hash

    r = log.records()[3]  # seq 4
    forged = record_hash(r.seq, r.at, "mallory", r.action, r.target, r.reason, r.details, r.prev_hash)
    _sql(log, f"UPDATE audit_log SET actor = 'mallory', hash = '{forged}' WHERE seq = 4")
    v = log.verify()
    assert not v.ok and v.bad_seq == 5


def test_deletion_is_detected_at_its_seq(log: AuditLog) -> None:
    _sql(log, "DELETE FROM audit_log WHERE seq = 2")
    v = log.verify()
    assert not v.ok and v.bad_seq == 2 and "missing" in v.message


def test_reordering_is_detected(log: AuditLog) -> None:
    _sql(log, "UPDATE audit_log SET seq = -1 WHERE seq = 4")
    _sql(log, "UPDATE audit_log SET seq = 4 WHERE seq = 5")
    _sql(log, "UPDATE audit_log SET seq = 5 WHERE seq = -1")
    v = log.verify()
    assert not v.ok and v.bad_seq == 4


def test_filters(log: AuditLog) -> None:
    log.append("scheduler", "start", "job 1", "policy fifo", at=2000.0)
    assert [r.seq for r in log.records(actor="scheduler")] == [7]
    assert [r.seq for r in log.records(action="submit", since=1005.0)] == [5, 6]


def test_cli_verify_and_show(log: AuditLog, tmp_path: Path) -> None:
    app = typer.Typer()
    admin.register(app)
    db = f"sqlite:///{tmp_path / 'a.db'}"
    r = CliRunner().invoke(app, ["audit", "verify", "--db", db])
    assert r.exit_code == 0 and "6 records, chain intact" in r.output
    r = CliRunner().invoke(app, ["audit", "show", "--db", db, "--action", "submit", "--since", "1006"])
    assert r.exit_code == 0 and "job 6" in r.output and "job 5" not in r.output
    _sql(log, "DELETE FROM audit_log WHERE seq = 5")
    r = CliRunner().invoke(app, ["audit", "verify", "--db", db])
    assert r.exit_code == 1 and "seq 5 is missing" in r.output


def test_cli_verify_of_a_missing_database_fails_and_creates_nothing(tmp_path: Path) -> None:
    app = typer.Typer()
    admin.register(app)
    typo = tmp_path / "no" / "such.db"
    for verb in ("verify", "show"):
        r = CliRunner().invoke(app, ["audit", verb, "--db", f"sqlite:///{typo}"])
        assert r.exit_code == 1 and "no such database file" in r.output
    assert not typo.parent.exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()  # a database, but not kaon's
    r = CliRunner().invoke(app, ["audit", "verify", "--db", f"sqlite:///{other}"])
    assert r.exit_code == 1 and "no audit log here" in r.output


def test_service_audits_mutations_and_decisions(secure) -> None:  # noqa: ANN001
    client, tokens = secure
    job = client.post("/api/v1/jobs", json={"command": ["sleep", "30"], "queue": "team-a"}, headers=bearer(tokens["user"])).json()
    service = client.app.state.service
    from tests.service.conftest import wait_for

    wait_for(lambda: service.audit.records(action="start"), what="a start record")
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(tokens["operator"]))
    records = client.get("/api/v1/admin/audit", headers=bearer(tokens["admin"])).json()
    seen = [(r["actor"], r["action"], r["target"]) for r in records]
    target = f"job {job['id']}"
    assert ("alice (user)", "submit", target) in seen
    assert ("scheduler", "start", target) in seen
    assert ("ops (operator)", "cancel-request", target) in seen
    assert ("scheduler", "cancel", target) in seen
    assert client.get("/api/v1/admin/audit/verify", headers=bearer(tokens["admin"])).json()["ok"] is True


# --- appending in batches, inside other transactions, from several threads and processes ---------


def _entries(n: int, actor: str = "dev (admin)") -> list[AuditEntry]:
    return [AuditEntry(actor, "submit", f"job {i}", "API request", {"gpus": 1}, 500.0 + i) for i in range(n)]


def test_a_batch_is_consecutive_links_and_the_next_append_follows(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(engine)
    audit = AuditLog(engine)
    batch = audit.append_many(_entries(5))
    assert [r.seq for r in batch] == [1, 2, 3, 4, 5]
    assert batch[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in zip(batch, batch[1:]))
    one = audit.append("scheduler", "start", "job 0", "policy fifo", at=600.0)
    assert (one.seq, one.prev_hash) == (6, batch[-1].hash)
    assert audit.records() == [*batch, one]
    assert audit.verify().ok and audit.head() == (6, one.hash)


def test_records_written_in_a_rolled_back_transaction_leave_no_trace(db_url: str) -> None:
    """The tail is read from the database each time: a rollback cannot leave a stale head behind
    (the next record would otherwise skip seqs or link to a record that was never committed)."""
    engine = open_engine(db_url)
    migrate(engine)
    audit = AuditLog(engine)
    audit.append_many(_entries(2))
    with pytest.raises(RuntimeError, match="boom"), engine.begin() as conn:
        audit.write(conn, _entries(3))
        raise RuntimeError("boom")
    assert audit.count() == 2
    nxt = audit.append("dev (admin)", "cancel-request", "job 1")
    assert nxt.seq == 3 and audit.verify().ok


def test_threads_and_another_process_append_one_unbroken_chain(db_url: str) -> None:
    """Four threads append batches and single records while a second process (as `kaon admin`
    would) appends too; every record lands exactly once and `kaon audit verify` passes. On SQLite
    the chain is held by the write lock, on PostgreSQL by an advisory lock."""
    url = db_url
    engine = open_engine(url)
    migrate(engine)
    audit = AuditLog(engine)
    other = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys; from kaon.security.audit import AuditLog; from kaon.store.db import open_engine\n"
            "log = AuditLog(open_engine(sys.argv[1]))\n"
            "for i in range(40): log.append('root (admin CLI)', 'token-create', f'token {i}')\n"
        ), url],
    )  # fmt: skip

    def work(t: int) -> None:
        for i in range(10):
            if i % 2:
                audit.append_many(_entries(7, f"t{t}"))
            else:
                audit.append(f"t{t}", "cancel-request", f"job {i}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    assert other.wait(60) == 0
    assert audit.count() == 4 * (5 * 7 + 5) + 40
    assert [r.seq for r in audit.records()] == list(range(1, audit.count() + 1))
    app = typer.Typer()
    admin.register(app)
    r = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    assert r.exit_code == 0 and f"{audit.count()} records, chain intact" in r.output


_HOLD_OPEN = """
import sys, time
from pathlib import Path
from kaon.security.audit import AuditEntry, AuditLog
from kaon.store.records import NewJob
from kaon.store.repo import JobStore
store = JobStore.open(sys.argv[1])
audit = AuditLog(store.engine)

def also(conn, records):
    audit.write(conn, [AuditEntry("dev (admin)", "submit", f"job {r.id}") for r in records])
    print("written", flush=True)
    time.sleep(600)

store.add_jobs([NewJob(("true",), gpus=1, time_limit_s=60.0)] * 50, 1.0, Path(sys.argv[2]), also=also)
"""


def test_a_crash_mid_batch_leaves_neither_jobs_nor_records_and_frees_the_chain(tmp_path: Path) -> None:
    """kill -9 while a batch's job rows and audit records are written but not committed: after
    it, the database has neither, the chain verifies, and the next batch appends normally."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    store = JobStore.open(url)
    audit = AuditLog(store.engine)
    audit.append("root (admin CLI)", "token-create", "token 1")
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_OPEN, url, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.list_jobs()[1] == 0 and audit.count() == 1 and audit.verify().ok

    def also(conn, records) -> None:  # noqa: ANN001
        audit.write(conn, [AuditEntry("dev (admin)", "submit", f"job {r.id}") for r in records])

    records = store.add_jobs([NewJob(("true",), gpus=1, time_limit_s=60.0)] * 3, 2.0, tmp_path, also=also)
    assert [r.target for r in audit.records(action="submit")] == [f"job {r.id}" for r in records]
    assert audit.verify().ok and audit.count() == 4
    store.close()
