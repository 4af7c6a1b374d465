"""A submission and its audit records are one transaction: every accepted job has its 'submit'
record, and when the records cannot be written no job is accepted."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def test_each_job_of_a_batch_has_its_submit_record(service: TestClient) -> None:
    jobs = service.post("/api/v1/jobs/batch", json={"jobs": [{"command": ["sleep", "60"], "gpus": 4}] * 30}).json()
    one = service.post("/api/v1/jobs", json={"command": ["sleep", "60"], "gpus": 4}).json()
    audit = service.app.state.service.audit  # type: ignore[attr-defined]
    submits = audit.records(action="submit")
    assert [r.target for r in submits] == [f"job {j['id']}" for j in [*jobs, one]]
    assert [r.seq for r in submits[:30]] == list(range(1, 31))  # one transaction: no record in between
    assert audit.verify().ok


def test_a_failed_audit_write_accepts_no_job(service: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    state = service.app.state.service  # type: ignore[attr-defined]
    write = state.audit.write

    def write_then_fail(conn, entries):  # noqa: ANN001, ANN202 - the records are written, then it fails
        write(conn, entries)
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(state.audit, "write", write_then_fail)
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        service.post("/api/v1/jobs/batch", json={"jobs": [{"command": ["true"], "gpus": 1}] * 5})
    monkeypatch.undo()
    assert service.get("/api/v1/jobs").json()["total"] == 0
    assert state.audit.count() == 0
    with state.loop.locked() as book:
        assert not book.jobs
    job = service.post("/api/v1/jobs", json={"command": ["true"], "gpus": 1}).json()
    assert [(r.seq, r.target) for r in state.audit.records(action="submit")] == [(1, f"job {job['id']}")]
