"""The audit chain: intact when untouched; an edit, a deletion or a reordering is named by seq."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from kaon.cli import admin
from kaon.security.audit import AuditLog
from kaon.store.db import open_engine
from kaon.store.migrations import migrate
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
