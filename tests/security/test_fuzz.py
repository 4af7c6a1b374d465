"""API fuzzing with schemathesis against kaon's own OpenAPI document, in process (dev mode, so
every route is reachable). No generated request may produce a 5xx, and a response must match the
documented schema. The unmarked test runs ~100 cases; the slow one runs over 1,000."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from kaon.service.app import create_app
from tests.security.conftest import secure_settings


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    # Generated jobs run generated commands (mostly "not found"); the sweep below cancels the rest.
    application = create_app(secure_settings(tmp, dev_no_auth=True, default_time_limit_s=5.0))
    with TestClient(application) as client:
        yield application
        for job in client.get("/api/v1/jobs", params={"state": ["PENDING", "RUNNING"], "limit": 1000}).json()["items"]:
            client.post(f"/api/v1/jobs/{job['id']}/cancel")


def _fuzz(app: FastAPI, per_operation: int) -> int:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path != "/api/v1/admin/reload":  # a generated policy spec: covered by the reload tests
            ran += _run(operation, per_operation)
    return ran


def _run(operation, per_operation: int) -> int:  # noqa: ANN001 - schemathesis APIOperation
    from hypothesis import given

    count = 0

    @settings(max_examples=per_operation, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:  # noqa: ANN001
        nonlocal count
        count += 1
        response = case.call()
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)


    check()
    return count


def test_fuzz_small(app: FastAPI) -> None:
    assert _fuzz(app, 9) >= 90


@pytest.mark.slow
def test_fuzz_thousand(app: FastAPI) -> None:
    assert _fuzz(app, 90) >= 1000
