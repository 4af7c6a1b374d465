"""The service on PostgreSQL: one API round trip through every kind of write the service makes.

Submit (single and batch), list, cancel (pending and running), a job run to completion, the audit
chain verified, and a restart on the same database that adopts the job still running. The other
service tests run on SQLite; the store tests run on both.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kaon.store.repo import JobStore
from tests.service.calls import job as _job
from tests.service.calls import submit as _submit

API = "/api/v1"


def test_api_round_trip_and_restart_on_postgresql(postgres_url: str, tmp_path: Path, make_service, wait_for, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, db_url=postgres_url, policy="fifo") as c:
        done = _submit(c, command=[sys.executable, "-c", "print('hi')"], gpus=2, env={"A": "1"}, name="ok", user="ann", memory_mb=1 << 40)
        finished = wait_for(lambda: (j := _job(c, done["id"]))["state"] == "COMPLETED" and j)
        assert finished["exit_code"] == 0 and finished["env"] == {"A": "1"} and finished["run_time_s"] > 0
        assert c.get(f"{API}/jobs/{done['id']}/logs").json()["text"] == "hi\n"
        for field in ("name", "user", "job_type"):  # PostgreSQL cannot store NUL: refused as bad input, not a 500
            r = c.post(f"{API}/jobs", json={"command": ["true"], field: "a\x00b"})
            assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", field]

        long = _submit(c, command=["sleep", "30"], gpus=4, gpu_types=["v100"], time_limit_s=600)
        wait_for(lambda: _job(c, long["id"])["state"] == "RUNNING")
        batch = c.post(f"{API}/jobs/batch", json={"jobs": [{"command": ["sleep", "30"], "gpus": 4, "gpu_types": ["v100"], "queue": "q"}] * 2})
        assert batch.status_code == 201
        queued = [j["id"] for j in batch.json()]
        assert queued == [long["id"] + 1, long["id"] + 2]
        listed = c.get(f"{API}/jobs", params={"state": "PENDING", "queue": "q"}).json()
        assert listed["total"] == 2 and [j["id"] for j in listed["items"]] == queued
        assert c.post(f"{API}/jobs/{queued[1]}/cancel").json()["state"] == "CANCELLED"
        assert {q["queue"]: q["counts"]["PENDING"] for q in c.get(f"{API}/queues").json()} == {"default": 0, "q": 1}

    with make_service(tmp_path, db_url=postgres_url, policy="fifo") as c:  # a restart: the sleeper is adopted
        assert c.get(f"{API}/health").json()["recovered"] == {"pending": 1, "adopted": 1, "requeued": 0, "cancelled": 0}
        assert _job(c, long["id"])["state"] == "RUNNING"
        assert c.post(f"{API}/jobs/{long['id']}/cancel").json()["stop_request"] == "cancel"
        assert wait_for(lambda: (j := _job(c, long["id"]))["state"] == "CANCELLED" and j)["signal"] == 15
        shutdown(c)
        verdict = c.get(f"{API}/admin/audit/verify").json()
        assert verdict["ok"] and verdict["records"] >= 5
        actions = [r["action"] for r in c.get(f"{API}/admin/audit").json()]
        assert actions.count("start") == 3 and actions.count("cancel") >= 3
        states = {j["id"]: j["state"] for j in c.get(f"{API}/jobs").json()["items"]}
        assert states == {done["id"]: "COMPLETED", long["id"]: "CANCELLED", queued[0]: "CANCELLED", queued[1]: "CANCELLED"}

    store = JobStore.open(postgres_url)  # the event history, as committed
    try:
        assert [e.to_state.value for e in store.events(long["id"])] == ["PENDING", "RUNNING", "RUNNING", "CANCELLED"]
    finally:
        store.close()
