"""Submissions per second over HTTP to a real `kaon serve` (dev mode, loopback only).

Starts `kaon serve` on 127.0.0.1 with a configured inventory of 4 GPUs and a temporary SQLite
database, starts one 4-GPU job that holds every GPU, then submits 4-GPU jobs: they are admitted
and stay PENDING, so the bench measures the API, admission, the store, the audit log and the
loop's bookkeeping, not job launches. Three phases:

- one job per request from one keep-alive connection (`--single` jobs in `--rounds` rounds, the
  median round reported), each request waiting for the previous answer;
- one job per request from `--clients` keep-alive connections at once (`--concurrent` jobs in all);
- `POST /jobs/batch` (`--batch-jobs` in batches of `--batch-size`);

then `--reads` one-by-one `GET /jobs/{id}` of one job (the lookup behind show, cancel, explain
and logs), with as many jobs in the store as the phases above left.

Afterwards it counts the pending jobs through `GET /jobs` (0 lost is required), cancels the
blocker, stops the server, and checks the audit log: `kaon audit verify` on the database, and one
'submit' record per job.
Besides the rates it reports the server's CPU time per job (all its threads): on a machine shared
with other work that is steadier than the wall clock; and the client's (this process): one
sequential client waits for each answer, so its own time is part of every round trip. The client
is the standard library's `http.client` (one connection per thread): httpx cost about as much CPU
per request as the server's own handling, on the same two cores. Goals: >= 300/s one by one, >= 1000/s batched.

    .venv/bin/python bench/service_throughput.py [--single 2000] [--rounds 5] [--concurrent 2000] [--clients 4]
        [--batch-jobs 10000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from common import write_result
from kaon.security.audit import AuditLog
from kaon.security.auth import Role, TokenStore, load_or_create_secret
from kaon.store.db import open_engine
from kaon.store.repo import JobStore

JOB = {"command": ["true"], "gpus": 4, "time_limit_s": 3600}
API = "/api/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Api:
    """One keep-alive HTTP/1.1 connection to the server, with a bearer token when auth is on."""

    token: str | None = None

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        self.conn.request(method, API + path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, json.loads(r.read() or b"null")

    def submit(self, path: str, body: object) -> object:
        status, doc = self.call("POST", path, body)
        assert status == 201, (status, doc)
        return doc

    def close(self) -> None:
        self.conn.close()


def admin_token(db: str, state: Path) -> str:
    """A token made the way `kaon admin token create` makes one, on the database the server opens."""
    store = JobStore.open(db)
    token, _ = TokenStore(store.engine, load_or_create_secret(state / "auth.secret")).create("bench", Role.ADMIN)
    store.close()
    return token


def wait_ready(port: int, server: subprocess.Popen, deadline_s: float = 60.0) -> None:
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        if server.poll() is not None:
            raise SystemExit(f"kaon serve exited with {server.returncode}")
        try:
            api = Api(port)
            if api.call("GET", "/health")[0] == 200:
                api.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("kaon serve did not become ready")


def pending(api: Api) -> int:
    return int(api.call("GET", "/jobs?state=PENDING&limit=1")[1]["total"])  # type: ignore[index]


class Phase:
    """Wall time and the server's CPU time over one phase."""

    def __init__(self, server: psutil.Process) -> None:
        self.server = server

    def __enter__(self) -> Phase:
        self.cpu0, self.t0 = sum(self.server.cpu_times()[:2]), time.perf_counter()
        self.client0 = time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu_s = sum(self.server.cpu_times()[:2]) - self.cpu0
        self.client_cpu_s = time.process_time() - self.client0

    def result(self, jobs: int, **extra: object) -> dict[str, object]:
        """The phase's rates; `extra` adds fields (the client count, the rounds)."""
        return {
            "jobs": jobs, **extra, "seconds": round(self.seconds, 3), "per_s": round(jobs / self.seconds, 1),
            "server_cpu_ms_per_job": round(self.cpu_s / jobs * 1e3, 3),
            "client_cpu_ms_per_job": round(self.client_cpu_s / jobs * 1e3, 3),
        }  # fmt: skip


def one_by_one(port: int, n: int) -> None:
    api = Api(port)
    for _ in range(n):
        api.submit("/jobs", JOB)
    api.close()


def median_round(rounds: list[dict[str, object]]) -> dict[str, object]:
    """The round with the median rate, and every round's rate: on a shared machine one round's
    rate moves by up to 2x from the next one's, in the same server."""
    ranked = sorted(rounds, key=lambda r: float(r["per_s"]))  # type: ignore[arg-type]
    return {**ranked[len(ranked) // 2], "rounds_per_s": [r["per_s"] for r in rounds]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--single", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5, help="split --single into this many rounds; the median round is reported")
    ap.add_argument("--concurrent", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch-jobs", type=int, default=10_000)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--reads", type=int, default=1000, help="GET /jobs/{id} requests after the submissions")
    ap.add_argument("--policy", default="fifo-backfill")
    ap.add_argument("--auth", action="store_true", help="with API tokens (an admin token made for the bench), not --dev-no-auth")
    ap.add_argument("--name", default="service_throughput", help="result file name under bench/out")
    args = ap.parse_args()
    port = free_port()
    per_client = args.concurrent // args.clients
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'kaon.db'}"
        state = Path(tmp) / "state"
        cmd = [
            sys.executable, "-m", "kaon.service", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--db", db, "--state-dir", str(state),
            "--gpus", "4", "--gpu-type", "v100", "--policy", args.policy, "--grace", "1", "--log-level", "warning",
        ]  # fmt: skip
        if args.auth:
            Api.token = admin_token(db, state)
        else:
            cmd.append("--dev-no-auth")
        server = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        proc = psutil.Process(server.pid)
        try:
            wait_ready(port, server)
            api = Api(port)
            hold = api.submit("/jobs", {**JOB, "command": ["sleep", "3600"]})["id"]  # type: ignore[index]
            while api.call("GET", f"/jobs/{hold}")[1]["state"] != "RUNNING":  # type: ignore[index]
                time.sleep(0.05)

            per_round = args.single // args.rounds
            rounds = []
            for _ in range(args.rounds):
                with Phase(proc) as single:
                    one_by_one(port, per_round)
                rounds.append(single.result(per_round))
            with Phase(proc) as concurrent, ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(lambda _: one_by_one(port, per_client), range(args.clients)))
            api.close()
            api = Api(port)  # the first one sat idle past the server's keep-alive timeout
            with Phase(proc) as batch:
                for start in range(0, args.batch_jobs, args.batch_size):
                    api.submit("/jobs/batch", {"jobs": [JOB] * min(args.batch_size, args.batch_jobs - start)})
            with Phase(proc) as reads:
                for _ in range(args.reads):
                    api.call("GET", f"/jobs/{hold}")
            total = pending(api)
            health = api.call("GET", "/health")[1]
            api.call("POST", f"/jobs/{hold}/cancel")
            api.close()
        finally:
            server.terminate()
            server.wait(30)
        kaon = [sys.executable, "-c", "from kaon.cli.app import main; main()"]
        verify = subprocess.run([*kaon, "audit", "verify", "--db", db], capture_output=True, text=True, check=False)
        submits = len(AuditLog(open_engine(db)).records(action="submit"))
    expected = per_round * args.rounds + per_client * args.clients + args.batch_jobs
    result = {
        "policy": args.policy,
        "auth": "API token" if args.auth else "--dev-no-auth",
        "single": median_round(rounds),
        "concurrent": concurrent.result(per_client * args.clients, clients=args.clients),
        "batch": batch.result(args.batch_jobs, batch_size=args.batch_size),
        "reads": reads.result(args.reads) if args.reads else None,
        "pending_after_all": total,
        "loop_pending_after_all": health["pending"],  # type: ignore[index]
        "lost": expected - total,
        "audit_verify": (verify.stdout + verify.stderr).strip(),
        "audit_submit_records": submits,
        "goals_per_s": {"single": 300, "batch": 1000},
    }
    path = write_result(args.name, result)
    print(result)
    print(f"wrote {path}")
    if total != expected:
        raise SystemExit(f"lost jobs: {expected - total} of {expected}")
    if verify.returncode != 0 or submits != expected + 1:
        raise SystemExit(f"audit log: {result['audit_verify']}; {submits} submit records for {expected + 1} jobs")


if __name__ == "__main__":
    main()
