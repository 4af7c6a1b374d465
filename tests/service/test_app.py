"""The app's lifespan when two servers open it at once (a TestClient and schemathesis' ASGI client
do in the fuzz tests): one scheduling loop runs, and it keeps running until the last one closes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient


def _loops() -> int:
    return sum(t.name == "kaon-scheduler" and t.is_alive() for t in threading.enumerate())


def test_the_service_starts_once_and_stops_with_the_last_server(
    tmp_path: Path, make_service: Callable[..., TestClient], wait_for: Callable[..., object], shutdown: Callable[[TestClient], None]
) -> None:
    before = _loops()
    with make_service(tmp_path) as first:
        service = first.app.state.service  # type: ignore[attr-defined]
        with TestClient(first.app) as second:
            assert _loops() == before + 1
            job = second.post("/api/v1/jobs", json={"command": ["sleep", "30"], "gpus": 1}).json()
        # The second server is gone; the loop still answers (it would wait 30 s for a stopped one).
        wait_for(lambda: first.get(f"/api/v1/jobs/{job['id']}").json()["state"] == "RUNNING", what="the job to start")
        assert first.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
        assert service.loop.last_error is None and _loops() == before + 1
        shutdown(first)
    assert _loops() == before
