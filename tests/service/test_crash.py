"""Crash safety: kill -9 the server while jobs are queued and running, restart it on the same
database, and every job ends in exactly one terminal state; none lost, none run twice.

Each job appends one line to a file named by its id, so a job run twice leaves two lines. Two jobs
wait for a 'go' file the test creates only after the restart: they are alive across the crash and
must be adopted, not relaunched.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate
from kaon.service.spawn import ServerProcess
from kaon.store.records import JobPhase
from kaon.security.crypto import Cipher
from kaon.store.repo import JobStore

GATED = 2


def _jobs(n: int, out: Path) -> list[JobCreate]:
    jobs = []
    for i in range(n):
        wait = 'while [ ! -e "$OUT/go" ]; do sleep 0.05; done; ' if i < GATED else "sleep 0.2; "
        script = wait + 'echo run >> "$OUT/$KAON_JOB_ID"'
        jobs.append(JobCreate(command=["sh", "-c", script], gpus=1, env={"OUT": str(out)}, time_limit_s=120))
    return jobs


def _terminal_count(client: KaonClient) -> int:
    return client.jobs([JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED, JobPhase.TIMEOUT], limit=1).total


def _crash_and_recover(tmp_path: Path, n: int) -> None:
    out = tmp_path / "out"
    out.mkdir()
    url = f"sqlite:///{tmp_path / 'kaon.db'}"
    args = ["--gpus", "4", "--gpu-type", "v100"]
    server = ServerProcess(url, tmp_path / "state", args).start()
    try:
        with KaonClient(server.url) as client:
            client.submit_batch(_jobs(n, out))
            deadline = time.monotonic() + 60
            while _terminal_count(client) < n // 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            before = _terminal_count(client)
        server.kill()
    finally:
        server.kill()
    assert before < n, "every job finished before the crash; the test proves nothing"
    server = ServerProcess(url, tmp_path / "state", args).start()
    try:
        with KaonClient(server.url) as client:
            recovered = client.health().recovered
            (out / "go").touch()
            deadline = time.monotonic() + 120
            while client.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=1).total and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        server.stop()
    assert recovered["adopted"] >= GATED, recovered
    store = JobStore.open(url, Cipher.from_file(tmp_path / "state" / "secret.key"))  # the key the server generated
    jobs, total = store.list_jobs(limit=10_000)
    terminal = Counter(e.job_id for e in store.events() if e.to_state.terminal)
    store.close()
    assert total == n
    assert [j.id for j in jobs if j.state is not JobPhase.COMPLETED] == []
    assert all(terminal[j.id] == 1 for j in jobs), terminal
    lines = {j.id: (out / str(j.id)).read_text().splitlines() if (out / str(j.id)).exists() else [] for j in jobs}
    assert {i: len(v) for i, v in lines.items() if len(v) != 1} == {}


def test_crash_with_30_jobs(tmp_path: Path) -> None:
    _crash_and_recover(tmp_path, 30)


@pytest.mark.slow
def test_crash_with_100_jobs(tmp_path: Path) -> None:
    _crash_and_recover(tmp_path, 100)
