"""Roles x routes: every API route against every role, and queue scoping, 401 and 403 reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kaon.cli import serve
from kaon.security.auth import AuthError, Role, TokenStore, is_loopback
from tests.security.conftest import bearer

JOB = {"command": ["sleep", "30"], "gpus": 1, "queue": "team-a"}

# (method, path) -> (request body, roles allowed). {id} is a job in queue team-a, {name} a node.
MATRIX: dict[tuple[str, str], tuple[dict | None, set[str]]] = {
    ("GET", "/api/v1/health"): (None, {"admin", "operator", "user", "viewer"}),
    ("POST", "/api/v1/admin/reload"): ({}, {"admin", "operator"}),
    ("POST", "/api/v1/admin/retrain"): ({}, {"admin"}),
    ("GET", "/api/v1/admin/audit"): (None, {"admin"}),
    ("GET", "/api/v1/admin/audit/verify"): (None, {"admin"}),
    ("GET", "/api/v1/nodes"): (None, {"admin", "operator", "user", "viewer"}),
    ("POST", "/api/v1/nodes/{name}/drain"): (None, {"admin", "operator"}),
    ("POST", "/api/v1/nodes/{name}/undrain"): (None, {"admin", "operator"}),
    ("GET", "/api/v1/queues"): (None, {"admin", "operator", "user", "viewer"}),
    ("POST", "/api/v1/jobs"): (JOB, {"admin", "operator", "user"}),
    ("POST", "/api/v1/jobs/batch"): ({"jobs": [JOB]}, {"admin", "operator", "user"}),
    ("GET", "/api/v1/jobs"): (None, {"admin", "operator", "user", "viewer"}),
    ("GET", "/api/v1/jobs/{job_id}"): (None, {"admin", "operator", "user", "viewer"}),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): (None, {"admin", "operator", "user"}),
    ("POST", "/api/v1/jobs/{job_id}/release"): ({"reason": "checked"}, {"admin", "operator"}),
    ("GET", "/api/v1/jobs/{job_id}/explain"): (None, {"admin", "operator", "user", "viewer"}),
    ("GET", "/api/v1/jobs/{job_id}/logs"): (None, {"admin", "operator", "user", "viewer"}),
    ("GET", "/api/v1/anomalies"): (None, {"admin", "operator"}),
}
ROLES = ("admin", "operator", "user", "viewer")


def _routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) of the app's OpenAPI document."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(m.upper(), p) for p, ops in paths.items() for m in ops}


def test_matrix_covers_every_route(secure) -> None:  # noqa: ANN001
    client, _ = secure
    assert _routes(client) == set(MATRIX)


def test_role_by_route_matrix(secure) -> None:  # noqa: ANN001
    client, tokens = secure
    job_id = client.post("/api/v1/jobs", json={**JOB, "gpu_types": ["k80"], "gpus": 64 // 32}, headers=bearer(tokens["admin"])).json()["id"]
    for (method, path), (body, allowed) in sorted(MATRIX.items()):
        if (method, path) not in _routes(client):
            continue
        for role in ROLES:
            url = path.replace("{job_id}", str(job_id)).replace("{name}", "v100-0000")
            if path.endswith("/cancel"):  # a fresh job per attempt: cancelling twice says nothing
                url = path.replace("{job_id}", str(client.post("/api/v1/jobs", json=JOB, headers=bearer(tokens["admin"])).json()["id"]))
            r = client.request(method, url, json=body, headers=bearer(tokens[role]))
            if role in allowed and path.endswith("/release"):  # allowed; the job is just not held (tests/security/test_holds.py)
                assert r.status_code == 409 and "not held" in r.json()["detail"], (role, r.status_code, r.text)
            elif role in allowed:
                assert r.status_code < 400, (method, path, role, r.status_code, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.status_code, r.text)
                assert f"role {role} may not" in r.json()["detail"]


@pytest.mark.parametrize(("headers", "reason"), [({}, "missing token"), (bearer("kaon_nope"), "invalid token")])
def test_401_carries_a_reason(secure, headers: dict[str, str], reason: str) -> None:  # noqa: ANN001
    client, _ = secure
    for method, path in MATRIX:
        r = client.request(method, path.replace("{job_id}", "1"), headers=headers)
        assert r.status_code == 401 and reason in r.json()["detail"], (method, path)


def test_revoked_token_is_refused(secure) -> None:  # noqa: ANN001
    client, tokens = secure
    store: TokenStore = client.app.state.service.tokens  # type: ignore[attr-defined]
    token, info = store.create("carol", Role.VIEWER)
    assert client.get("/api/v1/jobs", headers=bearer(token)).status_code == 200
    store.revoke(info.id)
    r = client.get("/api/v1/jobs", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"] == "token revoked"


def test_tokens_are_stored_only_as_keyed_hashes(secure, tmp_path: Path) -> None:  # noqa: ANN001
    _, tokens = secure
    raw = (tmp_path / "kaon.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("kaon.db-*"))
    for token in tokens.values():
        assert token.encode() not in raw


def test_users_see_and_change_only_their_queues(secure) -> None:  # noqa: ANN001
    client, tokens = secure
    mine = client.post("/api/v1/jobs", json=JOB, headers=bearer(tokens["user"]))
    assert mine.status_code == 201 and mine.json()["user"] == "alice"
    theirs = client.post("/api/v1/jobs", json={**JOB, "queue": "team-b"}, headers=bearer(tokens["other-user"])).json()
    r = client.post("/api/v1/jobs", json={**JOB, "queue": "team-b"}, headers=bearer(tokens["user"]))
    assert r.status_code == 403 and "queue 'team-b'" in r.json()["detail"]
    r = client.post("/api/v1/jobs", json={**JOB, "user": "bob"}, headers=bearer(tokens["user"]))
    assert r.status_code == 403 and "as user 'bob'" in r.json()["detail"]
    for path in ("", "/explain", "/logs"):
        assert client.get(f"/api/v1/jobs/{theirs['id']}{path}", headers=bearer(tokens["user"])).status_code == 403
    assert client.post(f"/api/v1/jobs/{theirs['id']}/cancel", headers=bearer(tokens["user"])).status_code == 403
    listed = client.get("/api/v1/jobs", headers=bearer(tokens["user"])).json()
    assert {j["queue"] for j in listed["items"]} == {"team-a"}
    assert client.get("/api/v1/jobs", params={"queue": "team-b"}, headers=bearer(tokens["viewer"])).status_code == 403
    assert {q["queue"] for q in client.get("/api/v1/queues", headers=bearer(tokens["user"])).json()} == {"team-a"}
    assert {q["queue"] for q in client.get("/api/v1/queues", headers=bearer(tokens["operator"])).json()} == {"team-a", "team-b"}


def test_token_scopes_are_checked(tmp_path: Path) -> None:
    from kaon.store.db import open_engine
    from kaon.store.migrations import migrate

    engine = open_engine(f"sqlite:///{tmp_path / 't.db'}")
    migrate(engine)
    store = TokenStore(engine, b"x" * 32)
    with pytest.raises(AuthError, match="role"):
        store.create("a", "root")
    with pytest.raises(AuthError, match="every queue"):
        store.create("a", Role.ADMIN, ("q",))
    assert store.create("a", Role.USER)[1].queues == ("default",)


def test_dev_no_auth_is_refused_beyond_loopback(tmp_path: Path) -> None:
    app = typer.Typer()
    serve.register(app)
    app.command("noop", hidden=True)(lambda: None)
    r = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--dev-no-auth", "--db", f"sqlite:///{tmp_path / 'k.db'}", "--gpus", "1", "--gpu-type", "v100"])
    assert r.exit_code == 2 and "loopback" in r.output
    r = CliRunner().invoke(app, ["serve", "--tls-cert", "c.pem", "--gpus", "1", "--gpu-type", "v100"])
    assert r.exit_code == 2 and "--tls-key" in r.output


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("example.org")
