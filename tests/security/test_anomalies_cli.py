"""`kaon anomalies` and `kaon admin release` against a running in-process server (client verbs over HTTP)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kaon.cli import admin, anomalies
from kaon.service.app import create_app
from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate
from kaon.service.settings import ServiceSettings


@pytest.fixture
def app_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    (tmp_path / "c.yaml").write_text("name: a\ngpu_types: {v100: {speed: 1.0}}\nnodes:\n  - {type: v100, count: 1, gpus: 1}\n")
    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp_path / 'kaon.db'}", cluster=str(tmp_path / "c.yaml"), state_dir=tmp_path / "s",
        dev_no_auth=True, poll_interval_s=0.02, hold_anomalous=True,
    )  # fmt: skip
    client = TestClient(create_app(settings))
    client.__enter__()
    # The CLI's KaonClient talks to the in-process app through its ASGI transport.
    real_init = KaonClient.__init__

    def init(self: KaonClient, server: str | None = None, token: str | None = None, timeout_s: float = 30.0) -> None:
        real_init(self, "http://testserver", token, timeout_s)
        self._http = client  # type: ignore[assignment]
        self._http.base_url = httpx.URL("http://testserver/api/v1")  # type: ignore[misc]

    monkeypatch.setattr(KaonClient, "__init__", init)
    monkeypatch.setattr(KaonClient, "close", lambda self: None)  # the app client outlives each verb
    app = typer.Typer()
    anomalies.register(app)
    admin.register(app)
    app.command("noop")(lambda: None)
    yield app
    client.__exit__(None, None, None)


def test_anomalies_verb_prints_flags(app_cli: typer.Typer) -> None:
    for _ in range(3):
        assert KaonClient().submit(JobCreate(command=["false"], gpus=1, user="mallory"))
    runner = CliRunner()

    def flagged() -> list:
        r = runner.invoke(app_cli, ["anomalies", "--json"])
        assert r.exit_code == 0, r.output
        return json.loads(r.output)

    stop = time.monotonic() + 30
    while not (flags := flagged()) and time.monotonic() < stop:
        time.sleep(0.1)
    assert {"kind": "failures", "subject": "user mallory"}.items() <= flags[0].items()
    text = runner.invoke(app_cli, ["anomalies"]).output
    assert "failures" in text and "user mallory" in text


def test_admin_release_verb(app_cli: typer.Typer) -> None:
    jobs = [JobCreate(command=["true"], gpus=1, user="eve") for _ in range(20)]
    held = KaonClient().submit_batch(jobs)[-1].id
    runner = CliRunner()
    stop = time.monotonic() + 30
    while not KaonClient().explain(held).held and time.monotonic() < stop:
        time.sleep(0.05)
    r = runner.invoke(app_cli, ["admin", "release", str(held), "--reason", "expected sweep"])
    assert r.exit_code == 0 and r.output.strip() == f"released job {held}", r.output
    r = runner.invoke(app_cli, ["admin", "release", str(held)])
    assert r.exit_code == 1 and f"409: job {held} is not held" in r.output
