"""Submissions per second over HTTP to a real `kaon serve` (dev mode, loopback only).

Starts `kaon serve` on 127.0.0.1 with a configured inventory of 4 GPUs and a temporary SQLite
database, starts one 4-GPU job that holds every GPU, then submits 4-GPU jobs: they are admitted
and stay PENDING, so the bench measures the API, admission, the store and the loop's bookkeeping,
not job launches. Two phases: one job per request (`--single`, a keep-alive httpx client) and
`POST /jobs/batch` (`--batch-jobs` in batches of `--batch-size`). Afterwards it counts the pending
jobs through `GET /jobs` (0 lost is required) and cancels everything. Goals: >= 300/s one by one,
>= 1000/s batched.

    .venv/bin/python bench/service_throughput.py [--single 2000] [--batch-jobs 10000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import write_result

JOB = {"command": ["true"], "gpus": 4, "time_limit_s": 3600}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(client: httpx.Client, server: subprocess.Popen, deadline_s: float = 60.0) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if server.poll() is not None:
            raise SystemExit(f"kaon serve exited with {server.returncode}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("kaon serve did not become ready")


def pending(client: httpx.Client) -> int:
    return int(client.get("/jobs", params={"state": "PENDING", "limit": 1}).json()["total"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--batch-jobs", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--policy", default="fifo-backfill")
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "kaon.service", "serve", "--host", "127.0.0.1", "--port", str(port), "--dev-no-auth",
            "--db", f"sqlite:///{Path(tmp) / 'kaon.db'}", "--state-dir", str(Path(tmp) / "state"),
            "--gpus", "4", "--gpu-type", "v100", "--policy", args.policy, "--grace", "1", "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=120) as client:
                wait_ready(client, server)
                hold = client.post("/jobs", json={**JOB, "command": ["sleep", "3600"]}).json()["id"]
                while client.get(f"/jobs/{hold}").json()["state"] != "RUNNING":
                    time.sleep(0.05)

                t0 = time.perf_counter()
                for _ in range(args.single):
                    r = client.post("/jobs", json=JOB)
                    assert r.status_code == 201, r.text
                single_s = time.perf_counter() - t0
                after_single = pending(client)

                t0 = time.perf_counter()
                for start in range(0, args.batch_jobs, args.batch_size):
                    n = min(args.batch_size, args.batch_jobs - start)
                    r = client.post("/jobs/batch", json={"jobs": [JOB] * n})
                    assert r.status_code == 201, r.text
                batch_s = time.perf_counter() - t0
                total = pending(client)
                health = client.get("/health").json()

                client.post(f"/jobs/{hold}/cancel")
        finally:
            server.terminate()
            server.wait(30)
    expected = args.single + args.batch_jobs
    result = {
        "policy": args.policy,
        "single": {"jobs": args.single, "seconds": round(single_s, 3), "per_s": round(args.single / single_s, 1)},
        "batch": {
            "jobs": args.batch_jobs, "batch_size": args.batch_size, "seconds": round(batch_s, 3),
            "per_s": round(args.batch_jobs / batch_s, 1),
        },
        "pending_after_single": after_single,
        "pending_after_all": total,
        "loop_pending_after_all": health["pending"],
        "lost": expected - total,
        "goals_per_s": {"single": 300, "batch": 1000},
    }  # fmt: skip
    path = write_result("service_throughput", result)
    print(result)
    print(f"wrote {path}")
    if total != expected:
        raise SystemExit(f"lost jobs: {expected - total} of {expected}")


if __name__ == "__main__":
    main()
