"""Holds in the service (`--hold-anomalous`): a burst or a failure streak holds a job, it never
starts until an operator releases it, both are audited with actor and reason, and a restart keeps
the hold."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaon.security.auth import Role
from kaon.service.app import create_app
from tests.security.conftest import bearer, secure_settings

API = "/api/v1"


def _wait(check: Callable[[], object], what: str, deadline_s: float = 30.0) -> object:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if value := check():
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def held_service(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with TestClient(create_app(secure_settings(tmp_path, hold_anomalous=True))) as client:
        tokens = client.app.state.service.tokens  # type: ignore[attr-defined]
        yield client, {
            "admin": bearer(tokens.create("root", Role.ADMIN)[0]),
            "operator": bearer(tokens.create("ops", Role.OPERATOR)[0]),
            "user": bearer(tokens.create("mallory", Role.USER)[0]),
        }


def _state(client: TestClient, job_id: int, headers: dict[str, str]) -> str:
    return client.get(f"{API}/jobs/{job_id}", headers=headers).json()["state"]


def test_a_burst_is_held_until_an_operator_releases_it(held_service) -> None:  # noqa: ANN001
    client, auth = held_service
    jobs = [{"command": ["true"], "gpus": 1, "time_limit_s": 60} for _ in range(20)]
    ids = [j["id"] for j in client.post(f"{API}/jobs/batch", json={"jobs": jobs}, headers=auth["user"]).json()]
    _wait(lambda: all(_state(client, i, auth["user"]) == "COMPLETED" for i in ids[:19]), "the first 19 jobs to run")
    last = ids[19]
    why = client.get(f"{API}/jobs/{last}/explain", headers=auth["user"]).json()
    assert why["state"] == "PENDING" and why["held"].startswith("burst: 20 submissions by user mallory")
    assert f"kaon admin release {last}" in why["message"]
    time.sleep(0.5)  # GPUs are idle, and the held job still does not start
    assert _state(client, last, auth["user"]) == "PENDING"

    refused = client.post(f"{API}/jobs/{last}/release", headers=auth["user"])
    assert refused.status_code == 403 and refused.json()["detail"] == "role user may not release"
    nul = client.post(f"{API}/jobs/{last}/release", json={"reason": "ok\u0000"}, headers=auth["operator"])
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["body", "reason"]  # PostgreSQL cannot store NUL
    released = client.post(f"{API}/jobs/{last}/release", json={"reason": "a sweep, checked"}, headers=auth["operator"])
    assert released.status_code == 200, released.text
    _wait(lambda: _state(client, last, auth["user"]) == "COMPLETED", "the released job to run")
    again = client.post(f"{API}/jobs/{last}/release", headers=auth["operator"])
    assert again.status_code == 409 and again.json()["detail"] == f"job {last} is not held (it is COMPLETED)"

    audit = client.get(f"{API}/admin/audit", headers=auth["admin"]).json()
    mine = [(r["actor"], r["action"], r["reason"]) for r in audit if r["target"] == f"job {last}" and r["action"] in ("hold", "release")]
    assert mine == [
        ("anomaly-detector", "hold", why["held"]),
        ("ops (operator)", "release", "a sweep, checked"),
    ]


def test_a_failing_users_next_job_is_held_and_can_be_cancelled(held_service) -> None:  # noqa: ANN001
    client, auth = held_service
    for _ in range(3):
        job_id = client.post(f"{API}/jobs", json={"command": ["false"], "gpus": 1}, headers=auth["user"]).json()["id"]
        _wait(lambda: _state(client, job_id, auth["user"]) == "FAILED", "a failure")  # noqa: B023
    held = client.post(f"{API}/jobs", json={"command": ["true"], "gpus": 1}, headers=auth["user"]).json()["id"]
    why = _wait(lambda: client.get(f"{API}/jobs/{held}/explain", headers=auth["user"]).json()["held"], "the hold")
    assert why == "failures: the last 3 jobs of user mallory failed"
    cancelled = client.post(f"{API}/jobs/{held}/cancel", headers=auth["user"])  # the owner may still cancel
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "CANCELLED"


def test_a_hold_survives_a_restart(tmp_path: Path) -> None:
    settings = secure_settings(tmp_path, hold_anomalous=True, dev_no_auth=True)
    with TestClient(create_app(settings)) as client:
        jobs = [{"command": ["sleep", "30"], "gpus": 2, "gpu_types": ["k80"], "time_limit_s": 60} for _ in range(20)]
        ids = [j["id"] for j in client.post(f"{API}/jobs/batch", json={"jobs": jobs}).json()]
        _wait(lambda: client.get(f"{API}/jobs/{ids[19]}/explain").json()["held"], "the hold")
        # leave the running job to be adopted, the queued ones queued
    with TestClient(create_app(settings)) as client:
        assert client.get(f"{API}/jobs/{ids[19]}/explain").json()["held"].startswith("burst:")
        assert client.get(f"{API}/jobs/{ids[18]}/explain").json()["held"] is None
        assert client.post(f"{API}/jobs/{ids[19]}/release").status_code == 200
        assert client.get(f"{API}/jobs/{ids[19]}/explain").json()["held"] is None
        for job_id in ids:
            client.post(f"{API}/jobs/{job_id}/cancel")
