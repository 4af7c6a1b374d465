"""An in-process service on a temporary database, with a small two-type cluster."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaon.service.app import create_app
from kaon.service.settings import ServiceSettings

CLUSTER = """\
name: api-test
gpu_types:
  v100: {speed: 1.0}
  k80: {speed: 0.5}
nodes:
  - {type: v100, count: 2, gpus: 2}
  - {type: k80, count: 1, gpus: 2}
"""


def wait_for(check: Callable[[], object], deadline_s: float = 30.0, what: str = "condition") -> object:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        value = check()
        if value:
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


def make_service(tmp_path: Path, **settings: object) -> TestClient:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(CLUSTER)
    base: dict[str, object] = {
        "db_url": f"sqlite:///{tmp_path / 'kaon.db'}",
        "cluster": str(spec),
        "state_dir": tmp_path / "state",
        "grace_s": 2.0,  # a job that exits on SIGTERM must not meet SIGKILL on a loaded machine
        "dev_no_auth": True,
        "poll_interval_s": 0.02,
    }
    base.update(settings)
    return TestClient(create_app(ServiceSettings(**base)))


def shutdown(client: TestClient) -> None:
    """Cancel whatever still runs, so no test leaves processes behind."""
    active = client.get("/api/v1/jobs", params={"state": ["PENDING", "RUNNING"], "limit": 1000}).json()["items"]
    for job in active:
        client.post(f"/api/v1/jobs/{job['id']}/cancel")
    wait_for(
        lambda: client.get("/api/v1/jobs", params={"state": ["PENDING", "RUNNING"]}).json()["total"] == 0,
        what="all jobs to stop",
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[TestClient]:
    with make_service(tmp_path) as client:
        yield client
        shutdown(client)


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., object]:
    return wait_for


@pytest.fixture(name="make_service")
def make_service_fixture() -> Callable[..., TestClient]:
    """`make_service(tmp_path, **settings)`: an app client not yet started (use it in `with`)."""
    return make_service


@pytest.fixture(name="shutdown")
def shutdown_fixture() -> Callable[[TestClient], None]:
    return shutdown
