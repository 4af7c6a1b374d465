"""API fuzzing with schemathesis against kaon's own OpenAPI document, in process, with
authentication on (an admin token, so every route is reachable).

Every operation gets positive cases (schema-valid requests) and negative ones (schema-violating
requests), and every response goes through schemathesis' checks: no 5xx, the documented content
type and response schema, invalid input rejected (`negative_data_rejection`: a 4xx, never a 2xx)
and valid input accepted (`positive_data_acceptance`: never refused as malformed). The unmarked
test runs about 150 cases; the slow one over 1,000 (docs/SECURITY.md has the last count)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
)

from kaon.security.auth import Role
from kaon.service.app import create_app
from tests.security.conftest import bearer, secure_settings

CHECKS = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, str]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    # Generated jobs run generated commands (mostly "not found"); the sweep below cancels the rest.
    application = create_app(secure_settings(tmp, default_time_limit_s=5.0))
    with TestClient(application) as client:
        token = application.state.service.tokens.create("fuzz", Role.ADMIN)[0]
        yield application, token
        active = client.get("/api/v1/jobs", params={"state": ["PENDING", "RUNNING"], "limit": 1000}, headers=bearer(token))
        for job in active.json()["items"]:
            client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=bearer(token))


def _fuzz(app: FastAPI, token: str, per_operation: int) -> int:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    @schema.auth()
    class AdminToken:
        """Sent with every case, so negative cases are about the request, not a missing token."""

        def get(self, case, context) -> str:  # noqa: ANN001
            return token

        def set(self, case, data: str, context) -> None:  # noqa: ANN001
            case.headers = {**(case.headers or {}), **bearer(data)}

    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/v1/admin/reload":  # a generated policy spec: covered by the reload tests
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            ran += _run(operation, mode, per_operation)
    return ran


def _run(operation, mode: GenerationMode, per_operation: int) -> int:  # noqa: ANN001 - schemathesis APIOperation
    count = 0

    @settings(max_examples=per_operation, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:  # noqa: ANN001
        nonlocal count
        count += 1
        case.call_and_validate(checks=CHECKS)

    check()
    return count


def test_fuzz_small(app: tuple[FastAPI, str]) -> None:
    ran = _fuzz(*app, 5)
    print(f"fuzz: {ran} cases")
    assert ran >= 100


@pytest.mark.slow
def test_fuzz_thousand(app: tuple[FastAPI, str]) -> None:
    ran = _fuzz(*app, 40)
    print(f"fuzz: {ran} cases")
    assert ran >= 1000
