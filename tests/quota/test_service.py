"""Quotas in the service: `quotas` setting wraps the live policy, and a lender reclaims."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from kaon.service.app import create_app
from kaon.service.settings import ServiceSettings

API = "/api/v1"
CLUSTER = "name: q\ngpu_types: {v100: {speed: 1.0}}\nnodes:\n  - {type: v100, count: 2, gpus: 2}\n"
QUOTAS = "queues:\n  research: {v100: {nominal: 2}}\n  prod: {v100: {nominal: 2, borrowing_limit: 0}}\n"


def _wait(check: Callable[[], object], what: str, deadline_s: float = 30.0) -> object:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if value := check():
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


def _job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()


def _submit(c: TestClient, queue: str) -> int:
    r = c.post(f"{API}/jobs", json={"command": ["sleep", "60"], "gpus": 2, "queue": queue, "time_limit_s": 120})
    assert r.status_code == 201, r.json()
    return int(r.json()["id"])


def test_lender_reclaims_borrowed_gpus_in_the_service(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "quotas.yaml").write_text(QUOTAS)
    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp_path / 'kaon.db'}", cluster=str(tmp_path / "cluster.yaml"),
        state_dir=tmp_path / "state", grace_s=0.5, dev_no_auth=True, poll_interval_s=0.02,
        quotas=tmp_path / "quotas.yaml", policy="fifo",
    )  # fmt: skip
    with TestClient(create_app(settings)) as c:
        try:
            r1 = _submit(c, "research")
            _wait(lambda: _job(c, r1)["state"] == "RUNNING", "r1 to run")
            r2 = _submit(c, "research")  # borrows prod's idle nominal share
            _wait(lambda: _job(c, r2)["state"] == "RUNNING", "r2 to run")
            p1 = _submit(c, "prod")
            _wait(lambda: _job(c, p1)["state"] == "RUNNING", "prod's job to reclaim its share")
            assert _job(c, r1)["state"] == "RUNNING" and _job(c, r1)["preemptions"] == 0
            back = _job(c, r2)
            assert back["state"] == "PENDING" and back["preemptions"] == 1  # newest-started borrower
            audit = [(r["action"], r["target"]) for r in c.get(f"{API}/admin/audit").json()]
            assert ("preempt", f"job {r2}") in audit
        finally:
            for j in c.get(f"{API}/jobs", params={"state": ["PENDING", "RUNNING"]}).json()["items"]:
                c.post(f"{API}/jobs/{j['id']}/cancel")
            _wait(lambda: c.get(f"{API}/jobs", params={"state": ["PENDING", "RUNNING"]}).json()["total"] == 0, "stop")
