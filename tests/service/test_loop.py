"""The scheduling loop's outcomes: time limits, failures and retries, preemption by a preemptive
policy, and start-up reconciliation of jobs persisted as RUNNING but never launched."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from kaon.store.records import Grant, GrantSlice, JobPhase, NewJob, StopRequest
from kaon.store.repo import JobStore

API = "/api/v1"


def _submit(c: TestClient, **body: object) -> dict:
    r = c.post(f"{API}/jobs", json=body)
    assert r.status_code == 201, r.json()
    return r.json()


def _job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()


def test_time_limit_ends_in_timeout(service: TestClient, wait_for) -> None:  # noqa: ANN001
    job = _submit(service, command=["sleep", "30"], time_limit_s=0.3)
    done = wait_for(lambda: (j := _job(service, job["id"]))["state"] == "TIMEOUT" and j)
    assert "time limit" in done["reason"] and done["signal"] == 15


def test_failure_is_retried_then_failed(service: TestClient, wait_for) -> None:  # noqa: ANN001
    job = _submit(service, command=[sys.executable, "-c", "raise SystemExit(3)"], retries=1)
    done = wait_for(lambda: (j := _job(service, job["id"]))["state"] == "FAILED" and j)
    assert done["exit_code"] == 3 and done["attempt"] == 2 and done["reason"] == "exit code 3"
    once = _submit(service, command=[sys.executable, "-c", "raise SystemExit(4)"])
    done = wait_for(lambda: (j := _job(service, once["id"]))["state"] == "FAILED" and j)
    assert done["attempt"] == 1


def test_preemptive_policy_preempts_and_resumes(tmp_path: Path, wait_for, make_service, shutdown) -> None:  # noqa: ANN001
    with make_service(tmp_path, policy="srtf:lease=0") as c:
        long = _submit(c, command=["sleep", "30"], gpus=4, gpu_types=["v100"], time_limit_s=1000)
        wait_for(lambda: _job(c, long["id"])["state"] == "RUNNING")
        short = _submit(c, command=["sleep", "0.2"], gpus=4, gpu_types=["v100"], time_limit_s=10)
        done = wait_for(lambda: (j := _job(c, short["id"]))["state"] == "COMPLETED" and j)
        resumed = wait_for(lambda: (j := _job(c, long["id"]))["attempt"] == 2 and j["state"] == "RUNNING" and j)
        assert resumed["preemptions"] == 1
        assert done["start_time"] >= _job(c, long["id"])["submit_time"]
        shutdown(c)
    store = JobStore.open(f"sqlite:///{tmp_path / 'kaon.db'}")
    details = [e.detail for e in store.events(long["id"])]
    store.close()
    assert details[:4] == ["submitted", "attempt 1 on v100-0000, v100-0001 GPUs [0, 1, 2, 3]", "preempting", "preempted"]


def test_restart_requeues_a_job_persisted_running_but_never_launched(tmp_path: Path, make_service) -> None:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    store = JobStore.open(url)
    grant = Grant("v100", 0, (GrantSlice(0, "v100-0000", (0,)),))
    a, b = store.add_jobs([NewJob(("true",), 1, 60.0), NewJob(("true",), 1, 60.0)], time.time(), tmp_path / "logs")
    for job in (a, b):
        store.transition(job.id, JobPhase.RUNNING, time.time(), grant=grant, attempt=1, start_time=time.time())
    store.update(b.id, stop_request=StopRequest.CANCEL)
    store.close()
    with make_service(tmp_path) as c:
        assert c.get(f"{API}/health").json()["recovered"] == {"pending": 0, "adopted": 0, "requeued": 1, "cancelled": 1}
        done = _wait_state(c, a.id, "COMPLETED")
        assert done["attempt"] == 1
        assert _job(c, b.id)["state"] == "CANCELLED"


def _wait_state(c: TestClient, job_id: int, state: str) -> dict:
    stop = time.monotonic() + 30
    while time.monotonic() < stop:
        job = _job(c, job_id)
        if job["state"] == state:
            return job
        time.sleep(0.03)
    raise AssertionError(f"job {job_id} never reached {state}: {_job(c, job_id)}")
