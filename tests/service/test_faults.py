"""Executor faults: a job's process group killed from outside the service with SIGKILL."""

from __future__ import annotations

import os
import signal

import pytest
from fastapi.testclient import TestClient

API = "/api/v1"
FIRST_ATTEMPT_HANGS = 'if [ "$KAON_ATTEMPT" = 1 ]; then sleep 60; fi; exit {code}'


def _job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()


def _kill_group_when_running(c: TestClient, job_id: int, wait_for) -> None:  # noqa: ANN001
    running = wait_for(lambda: (j := _job(c, job_id))["state"] == "RUNNING" and j["pid"] and j, what="a pid")
    os.killpg(os.getpgid(running["pid"]), signal.SIGKILL)


def test_sigkilled_job_fails_with_its_signal(service: TestClient, wait_for) -> None:  # noqa: ANN001
    job_id = service.post(f"{API}/jobs", json={"command": ["sleep", "60"], "gpus": 1}).json()["id"]
    _kill_group_when_running(service, job_id, wait_for)
    done = wait_for(lambda: (j := _job(service, job_id))["state"] not in ("PENDING", "RUNNING") and j, what="the end")
    assert done["state"] == "FAILED"
    assert done["signal"] == signal.SIGKILL and done["exit_code"] is None
    assert done["attempt"] == 1


@pytest.mark.parametrize(("code", "final"), [(0, "COMPLETED"), (3, "FAILED")])
def test_sigkilled_job_is_retried_once(service: TestClient, wait_for, code: int, final: str) -> None:  # noqa: ANN001
    body = {"command": ["sh", "-c", FIRST_ATTEMPT_HANGS.format(code=code)], "gpus": 1, "retries": 1}
    job_id = service.post(f"{API}/jobs", json=body).json()["id"]
    _kill_group_when_running(service, job_id, wait_for)
    done = wait_for(lambda: (j := _job(service, job_id))["state"] not in ("PENDING", "RUNNING") and j, what="the end")
    assert done["state"] == final and done["attempt"] == 2
    assert done["exit_code"] == code and done["signal"] is None
