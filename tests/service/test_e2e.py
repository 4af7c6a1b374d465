"""End to end: a real `kaon serve` subprocess, real jobs, 4 configured GPUs.

Checks, from the jobs' own recorded start and end times, that never more than 4 GPUs were in use,
and that every job saw exactly its granted devices in CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate, JobRead
from kaon.service.spawn import ServerProcess
from kaon.store.records import JobPhase

GPUS = 4


def _jobs(n: int) -> list[JobCreate]:
    """Alternating `sleep 0.05` and a Python job printing its devices; 1 or 2 GPUs each."""
    out = []
    for i in range(n):
        if i % 2:
            cmd = ["sleep", "0.05"]
        else:
            cmd = [sys.executable, "-c", "import os; print('CVD=' + os.environ['CUDA_VISIBLE_DEVICES'])"]
        out.append(JobCreate(command=cmd, gpus=1 + (i % 3 == 0), name=f"e2e-{i}", time_limit_s=60))
    return out


def _wait_all_done(client: KaonClient, total: int, deadline_s: float) -> list[JobRead]:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        page = client.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=1)
        if page.total == 0:
            break
        time.sleep(0.2)
    jobs = client.jobs(limit=1000).items
    assert len(jobs) == total
    return jobs


def _max_concurrent_gpus(jobs: list[JobRead]) -> int:
    """Sweep over start (+gpus) and end (-gpus) instants; ends sort before starts at a tie."""
    edges = sorted([(j.end_time, 0, -j.gpus) for j in jobs] + [(j.start_time, 1, j.gpus) for j in jobs])
    busy = peak = 0
    for _, _, delta in edges:
        busy += delta
        peak = max(peak, busy)
    return peak


def _run(tmp_path: Path, n: int) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'kaon.db'}", tmp_path / "state", ["--gpus", str(GPUS), "--gpu-type", "v100"])
    with server, KaonClient(server.url) as client:
        submitted = client.submit_batch(_jobs(n))
        assert [j.state for j in submitted] == [JobPhase.PENDING] * n
        jobs = _wait_all_done(client, n, deadline_s=120)
    assert {j.state for j in jobs} == {JobPhase.COMPLETED}, [(j.id, j.state, j.reason) for j in jobs if j.state is not JobPhase.COMPLETED]
    assert all(j.attempt == 1 and j.exit_code == 0 for j in jobs)
    assert all(j.start_time >= j.submit_time and j.end_time >= j.start_time for j in jobs)
    assert _max_concurrent_gpus(jobs) <= GPUS
    for j in jobs:
        assert j.grant is not None and j.log_path is not None
        devices = j.grant.devices
        assert len(devices) == j.gpus and set(devices) <= set(range(GPUS))
        if j.command[0] == sys.executable:
            log = Path(j.log_path).read_text().split()
            assert log == ["CVD=" + ",".join(map(str, devices))], (j.id, log)


def test_40_jobs_on_4_gpus(tmp_path: Path) -> None:
    _run(tmp_path, 40)


@pytest.mark.slow
def test_200_jobs_on_4_gpus(tmp_path: Path) -> None:
    _run(tmp_path, 200)
