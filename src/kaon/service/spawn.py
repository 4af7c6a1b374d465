"""Start `kaon serve` as a separate process on a free local port and wait until it answers.

For end-to-end tests, demos and benchmarks that need a real server (one that can be killed -9 and
restarted on the same database), not an in-process app.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A `kaon serve` subprocess on 127.0.0.1. `args` are extra `serve` flags (inventory, policy).
    Without `token` it runs in `--dev-no-auth` mode (allowed because it listens on loopback); with
    one, the health probe sends it."""

    def __init__(
        self, db_url: str, state_dir: Path, args: list[str], log_path: Path | None = None, token: str | None = None
    ) -> None:
        self.db_url = db_url
        self.token = token
        self.state_dir = state_dir
        self.args = args
        self.log_path = log_path or state_dir / "server.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ServerProcess:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "kaon.service", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--db", self.db_url, "--state-dir", str(self.state_dir),
            "--log-level", "warning", *([] if self.token else ["--dev-no-auth"]), *self.args,
        ]  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kaon serve exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", headers=headers, timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"kaon serve did not answer within {timeout_s}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the service can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
