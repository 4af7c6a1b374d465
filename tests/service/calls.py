"""The two API calls most service tests make through an in-process `TestClient`."""

from __future__ import annotations

from fastapi.testclient import TestClient

API = "/api/v1"


def submit(c: TestClient, **body: object) -> dict:
    """POST a job; it must be accepted."""
    r = c.post(f"{API}/jobs", json=body)
    assert r.status_code == 201, r.json()
    return r.json()


def job(c: TestClient, job_id: int) -> dict:
    return c.get(f"{API}/jobs/{job_id}").json()
