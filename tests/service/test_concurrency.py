"""Concurrent submissions to a real server: 8 threads x 25 jobs, none lost, none duplicated, and
the audit log one intact chain with one 'submit' record per job."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kaon.security.audit import AuditLog
from kaon.service.client import KaonClient
from kaon.service.schemas import JobCreate
from kaon.service.spawn import ServerProcess
from kaon.store.db import open_engine
from kaon.store.records import JobPhase

THREADS, PER_THREAD = 8, 25


def _submit_many(url: str, thread: int) -> list[int]:
    ids = []
    with KaonClient(url, timeout_s=60) as client:
        for i in range(PER_THREAD):
            # One GPU and a long sleep: one job runs, the rest queue, so the check sees them all.
            job = client.submit(JobCreate(command=["sleep", "600"], gpus=1, name=f"t{thread}-{i}", user=f"u{thread}"))
            ids.append(job.id)
    return ids


@pytest.mark.slow
def test_concurrent_submissions_are_all_recorded_once(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'kaon.db'}", tmp_path / "state", ["--gpus", "1", "--gpu-type", "v100", "--grace", "0.5"])
    with server, KaonClient(server.url, timeout_s=60) as client:
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                futures = [pool.submit(_submit_many, server.url, t) for t in range(THREADS)]
                accepted = [i for f in futures for i in f.result(timeout=120)]
            assert len(accepted) == THREADS * PER_THREAD
            assert len(set(accepted)) == len(accepted)
            listed = client.jobs(limit=1000)
            assert listed.total == len(accepted)
            assert {j.id for j in listed.items} == set(accepted)
            names = {j.name for j in listed.items}
            assert names == {f"t{t}-{i}" for t in range(THREADS) for i in range(PER_THREAD)}
            audit = AuditLog(open_engine(server.db_url))
            assert audit.verify().ok
            assert sorted(r.target for r in audit.records(action="submit")) == sorted(f"job {i}" for i in accepted)
        finally:
            for job in client.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=1000).items:
                client.cancel(job.id)
