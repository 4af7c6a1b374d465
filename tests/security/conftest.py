"""A service with authentication on, and a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kaon.security.auth import Role, load_or_create_secret
from kaon.service.app import create_app
from kaon.service.settings import ServiceSettings

CLUSTER = """\
name: sec-test
gpu_types:
  v100: {speed: 1.0}
  k80: {speed: 0.5}
nodes:
  - {type: v100, count: 1, gpus: 2}
  - {type: k80, count: 1, gpus: 2}
"""


def secure_settings(tmp_path: Path, **extra: object) -> ServiceSettings:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(CLUSTER)
    base: dict[str, object] = {
        "db_url": f"sqlite:///{tmp_path / 'kaon.db'}",
        "cluster": str(spec),
        "state_dir": tmp_path / "state",
        "grace_s": 0.3,
        "poll_interval_s": 0.02,
    }
    base.update(extra)
    return ServiceSettings(**base)


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """(client, {role or 'other-user': token}); users are confined to queue 'team-a'."""
    settings = secure_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        service = client.app.state.service  # type: ignore[attr-defined]
        assert service.tokens is not None
        tokens = {
            "admin": service.tokens.create("root", Role.ADMIN)[0],
            "operator": service.tokens.create("ops", Role.OPERATOR)[0],
            "user": service.tokens.create("alice", Role.USER, ("team-a",))[0],
            "viewer": service.tokens.create("val", Role.VIEWER, ("team-a",))[0],
            "other-user": service.tokens.create("bob", Role.USER, ("team-b",))[0],
        }
        assert load_or_create_secret(settings.resolved_auth_secret_file())
        yield client, tokens
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        for job in client.get("/api/v1/jobs", params={"state": ["PENDING", "RUNNING"]}, headers=admin).json()["items"]:
            client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=admin)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
