"""`kaon serve`: flag errors exit 2 with the reason; a served process answers and reloads on SIGHUP."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from kaon.cli import serve
from kaon.service.spawn import ServerProcess


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    serve.register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep `serve` a sub-command
    return app


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--gpus", "2", "--cluster", "gavel-hetero"], "not both"),
        (["--cluster", "no-such-cluster"], "no such file"),
        (["--gpus", "0", "--gpu-type", "v100"], ">= 1"),
        (["--gpus", "2", "--gpu-type", "v100", "--policy", "no-such-policy"], "unknown policy"),
        (["--gpus", "2", "--gpu-type", "v100", "--dev-no-auth", "--quotas", "QUOTAS"], "GPU type 'h100'"),
        (["--gpus", "2", "--gpu-type", "v100", "--grace", "-1"], "setting grace_s (KAON_GRACE_S)"),
        (["--gpus", "2", "--gpu-type", "v100", "--db", "not-a-url"], "database URL 'not-a-url'"),
        (["--gpus", "2", "--gpu-type", "v100", "--dev-no-auth", "--host", "0.0.0.0"], "loopback address only"),
    ],
)
def test_bad_flags_exit_2_with_the_reason(app: typer.Typer, tmp_path: Path, flags: list[str], message: str) -> None:
    quotas = tmp_path / "quotas.yaml"
    quotas.write_text("queues:\n  a: {h100: {nominal: 2}}\n")
    flags = [str(quotas) if f == "QUOTAS" else f for f in flags]
    result = CliRunner().invoke(app, ["serve", "--db", f"sqlite:///{tmp_path / 'k.db'}", "--state-dir", str(tmp_path), *flags])
    assert result.exit_code == 2
    assert message in result.output


def test_no_auth_from_the_environment_is_refused_off_loopback(app: typer.Typer, tmp_path: Path) -> None:
    """KAON_DEV_NO_AUTH=1 is the same setting as --dev-no-auth, so it is held to the same rule."""
    flags = ["--db", f"sqlite:///{tmp_path / 'k.db'}", "--state-dir", str(tmp_path), "--gpus", "1", "--gpu-type", "v100"]
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", *flags], env={"KAON_DEV_NO_AUTH": "1"})
    assert result.exit_code == 2
    assert "KAON_DEV_NO_AUTH" in result.output and "loopback address only" in result.output


def test_served_process_answers_and_survives_sighup(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'k.db'}", tmp_path / "state", ["--gpus", "2", "--gpu-type", "t4", "--policy", "fifo"])
    with server:
        before = httpx.get(f"{server.url}/api/v1/health").json()
        assert before["policy"] == "fifo" and before["status"] == "ok"
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        after = httpx.get(f"{server.url}/api/v1/health").json()
        assert after["status"] == "ok" and after["policy"] == "fifo"
        assert [n["gpu_type"] for n in httpx.get(f"{server.url}/api/v1/nodes").json()] == ["t4"]
