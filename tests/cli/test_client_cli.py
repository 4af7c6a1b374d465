"""Client verbs through CliRunner against a live `kaon serve` subprocess."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from kaon.cli import client
from kaon.cli.client import parse_duration
from kaon.service.client import DEFAULT_SERVER, ClientError, server_address
from kaon.service.spawn import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("serve")
    with ServerProcess(f"sqlite:///{tmp / 'k.db'}", tmp / "state", ["--gpus", "2", "--gpu-type", "v100", "--grace", "0.5"]) as s:
        yield s


@pytest.fixture
def kaon(server: ServerProcess):  # noqa: ANN201 - a runner function
    app = typer.Typer()
    client.register(app)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> str:
        result = runner.invoke(app, [*args[:1], "--server", server.url, *args[1:]] if args[0] != "submit" else _submit_args(args, server.url))
        if ok:
            assert result.exit_code == 0, result.output
        return result.output

    return run


def _submit_args(args: tuple[str, ...], url: str) -> list[str]:
    """`--server` goes before `--`, which starts the command."""
    split = args.index("--")
    return [*args[:split], "--server", url, *args[split:]]


def _wait_state(kaon, job_id: int, state: str) -> dict:  # noqa: ANN001
    stop = time.monotonic() + 30
    while time.monotonic() < stop:
        job = json.loads(kaon("show", str(job_id), "--json"))
        if job["state"] == state:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {state}")


def test_submit_show_logs_history(kaon) -> None:  # noqa: ANN001
    out = kaon("submit", "--gpus", "2", "--gpu-type", "V100", "--time", "1m", "--name", "hello", "--priority", "3",
               "--queue", "q", "--env", "GREETING=hi", "--",
               sys.executable, "-c", "import os; print(os.environ['GREETING'], os.environ['CUDA_VISIBLE_DEVICES'])")  # fmt: skip
    job_id = int(out.split()[-1])
    job = _wait_state(kaon, job_id, "COMPLETED")
    assert (job["name"], job["gpus"], job["gpu_types"], job["time_limit_s"], job["priority"], job["queue"]) == (
        "hello", 2, ["v100"], 60.0, 3, "q",
    )  # fmt: skip
    assert kaon("logs", str(job_id)) == "hi 0,1\n"
    assert kaon("logs", str(job_id), "--follow") == "hi 0,1\n"
    assert "exit_code: 0" in kaon("show", str(job_id))
    assert str(job_id) in kaon("history")
    history = json.loads(kaon("history", "--json"))
    assert job_id in [j["id"] for j in history["items"]]
    assert "COMPLETED" in kaon("explain", str(job_id))


def test_queue_explain_cancel(kaon) -> None:  # noqa: ANN001
    blocker = int(kaon("submit", "--gpus", "2", "--time", "100", "--", "sleep", "30").split()[-1])
    _wait_state(kaon, blocker, "RUNNING")
    waiting = json.loads(kaon("submit", "--json", "--", "sleep", "30"))["id"]
    queue = json.loads(kaon("queue", "--json"))
    assert [j["id"] for j in queue["items"]] == [blocker, waiting]
    assert "2 active jobs" in kaon("queue")
    why = kaon("explain", str(waiting))
    assert "0/2 free v100 GPUs, needs 1" in why and "queue position 1 of 1" in why
    assert json.loads(kaon("explain", str(waiting), "--json"))["predicted_start"] is not None
    assert f"job {waiting} cancelled" in kaon("cancel", str(waiting))
    assert "being stopped" in kaon("cancel", str(blocker))
    _wait_state(kaon, blocker, "CANCELLED")
    assert "already ended: CANCELLED" in kaon("cancel", str(blocker))


def test_nodes(kaon) -> None:  # noqa: ANN001
    [node] = json.loads(kaon("nodes", "--json"))
    assert node["gpu_type"] == "v100" and node["devices"] == [0, 1]
    assert "v100" in kaon("nodes")
    assert kaon("nodes", "drain", node["name"]).strip() == f"node {node['name']}: drained"
    assert json.loads(kaon("nodes", "--json"))[0]["drained"]
    assert json.loads(kaon("nodes", "undrain", node["name"], "--json"))["drained"] is False
    assert "404" in kaon("nodes", "drain", "no-such-node", ok=False)


def test_errors_are_one_line_and_exit_1(kaon, server: ServerProcess) -> None:  # noqa: ANN001
    out = kaon("show", "999", ok=False)
    assert "404" in out and "999" in out
    out = kaon("submit", "--gpus", "3", "--", "true", ok=False)
    assert "gpus: needs 3 GPUs" in out
    app = typer.Typer()
    client.register(app)
    result = CliRunner().invoke(app, ["nodes", "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 1 and "cannot reach the kaon server" in result.output


def test_server_address_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    monkeypatch.delenv("KAON_SERVER", raising=False)
    assert server_address(None, config) == DEFAULT_SERVER
    config.write_text('server = "http://cfg:1"\n')
    assert server_address(None, config) == "http://cfg:1"
    monkeypatch.setenv("KAON_SERVER", "http://env:2/")
    assert server_address(None, config) == "http://env:2"
    assert server_address("http://flag:3", config) == "http://flag:3"
    monkeypatch.delenv("KAON_SERVER")
    config.write_text("server = [")
    with pytest.raises(ClientError, match="config.toml"):
        server_address(None, config)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400), ("01:30:00", 5400), ("1:30", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "0", "-5", "h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(text)


def test_explain_needs_a_job_id_or_a_whole_replay() -> None:
    app = typer.Typer()
    client.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["explain"])
    assert r.exit_code == 2 and "give a job id (a service job) or --model DIR" in r.output
    r = runner.invoke(app, ["explain", "--model", "m", "--trace", "t"])
    assert r.exit_code == 2 and "it needs --cluster, --at" in r.output
    r = runner.invoke(app, ["explain", "3", "--model", "m", "--trace", "t", "--cluster", "c", "--at", "0"])
    assert r.exit_code == 2 and "not a job id" in r.output
