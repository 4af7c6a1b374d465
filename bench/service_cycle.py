"""Scheduling cycles of the service loop with thousands of pending jobs, in process (no HTTP).

A cycle is what the loop thread does when it wakes: apply queued commands (admitting submitted
jobs), take the executor's events (persisting each ended job), ask the policy to decide, and carry
out the decision (persisting each start with its audit record, then launching). The bench builds
a real service (SQLite store in a temporary directory) with a scripted executor that launches
nothing and reports a job ended only when the bench says so. Two scenarios, `--jobs` pending each:

- **blocked**: 8 GPUs, one 4-GPU job that never ends, pending jobs of 5-8 GPUs. Nothing can
  start, so every cycle sees the same queue: the policy's cost of finding nothing to do.
- **churn**: `--nodes` x 8 GPUs, full of running jobs; before each cycle `--finish` running jobs
  end (their GPUs free up) and as many new jobs are submitted, so each cycle persists the ends,
  admits the arrivals and starts jobs on the freed GPUs (store writes, audit records, launches).
  Pending jobs ask for 1, 2, 4 or 8 GPUs, so most freed GPUs are refilled at once.

Reports p50/p99/max wall time and mean/p99 CPU time over `--cycles` cycles per scenario, and for churn the jobs started per cycle;
the goal is p99 <= 50 ms with 5,000 pending.

    .venv/bin/python bench/service_cycle.py [--jobs 5000] [--cycles 200] [--policy fifo-backfill]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import write_result
from kaon.executors.base import Executor, ExecutorEvent, Finished, Recovery, RunRequest
from kaon.service.runtime import Service, build_service
from kaon.service.settings import ServiceSettings
from kaon.store.records import Grant, JobPhase, NewJob


class ScriptedExecutor(Executor):
    """Launches nothing; a launched job runs until `finish` says it ended (exit code 0)."""

    def __init__(self) -> None:
        self._running: dict[int, None] = {}
        self._events: list[ExecutorEvent] = []

    def launch(self, run: RunRequest, grant: Grant) -> None:
        self._running[run.job_id] = None

    def preempt(self, job_id: int, grace_s: float) -> None:
        self.finish([job_id])

    def cancel(self, job_id: int, grace_s: float) -> None:
        self.finish([job_id])

    def finish(self, job_ids: list[int]) -> None:
        now = time.time()
        for j in job_ids:
            if self._running.pop(j, 0) is None:
                self._events.append(Finished(j, 0, now))

    def poll(self) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def recover(self, run: RunRequest, grant: Grant, pid: int | None, started_at: float | None) -> Recovery:
        return Recovery.NEVER_STARTED

    def running(self) -> frozenset[int]:
        return frozenset(self._running)


def cycle(service: Service, cpu: list[float] | None = None) -> float:
    """One pass of the loop (commands, executor events, a decision), driven by hand; wall seconds.
    With `cpu`, the pass's CPU seconds are appended to it (steadier than the wall clock on a
    loaded machine: the bench runs no other thread)."""
    t0, c0 = time.perf_counter(), time.process_time()
    service.loop.cycle(decide=True)
    assert service.loop.last_error is None, service.loop.last_error
    if cpu is not None:
        cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0


def submit(service: Service, jobs: list[NewJob]) -> None:
    records = service.store.add_jobs(jobs, time.time(), service.log_dir)
    service.loop.submitted(records)


def make_jobs(rng: np.random.Generator, n: int, gpus: Callable[[int], np.ndarray]) -> list[NewJob]:
    return [
        NewJob(("true",), gpus=int(g), time_limit_s=float(t), queue=f"q{i % 4}", user=f"u{i % 17}")
        for i, (g, t) in enumerate(zip(gpus(n), rng.uniform(60, 86_400, n)))
    ]


def open_service(tmp: Path, name: str, policy: str, gpus: int, executor: Executor) -> Service:
    settings = ServiceSettings(
        db_url=f"sqlite:///{tmp / f'{name}.db'}", gpus=gpus, gpu_type="v100", state_dir=tmp / name,
        policy=policy, dev_no_auth=True,
    )  # fmt: skip
    return build_service(settings, executor=executor)


def stats(times_s: list[float], cpu_s: list[float]) -> dict[str, float]:
    ms, cpu = np.array(times_s) * 1e3, np.array(cpu_s) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
        "cpu_mean_ms": round(float(cpu.mean()), 3),
        "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3),
    }


def blocked(tmp: Path, policy: str, jobs: int, cycles: int) -> dict[str, object]:
    service = open_service(tmp, "blocked", policy, 8, ScriptedExecutor())
    submit(service, [NewJob(("sleep", "inf"), gpus=4, time_limit_s=86_400)])
    cycle(service)
    assert len(service.loop.book.running) == 1, "the blocking job did not start"
    rng = np.random.default_rng(0)
    submit(service, make_jobs(rng, jobs, lambda n: rng.integers(5, 9, n)))
    admit_s = cycle(service)
    assert len(service.loop.book.pending) == jobs
    cpu: list[float] = []
    times = [cycle(service, cpu) for _ in range(cycles)]
    assert len(service.loop.book.pending) == jobs and len(service.loop.book.running) == 1
    service.store.close()
    return {"admit_cycle_ms": round(admit_s * 1e3, 2), **stats(times, cpu)}


def churn(tmp: Path, policy: str, jobs: int, cycles: int, nodes: int, finish: int) -> dict[str, object]:
    executor = ScriptedExecutor()
    service = open_service(tmp, "churn", policy, nodes * 8, executor)
    book = service.loop.book
    rng = np.random.default_rng(1)
    sizes = lambda n: rng.choice([1, 2, 4, 8], n, p=[0.4, 0.3, 0.2, 0.1])  # noqa: E731
    submit(service, make_jobs(rng, jobs + nodes * 8, sizes))
    cycle(service)  # fills the cluster; at least `jobs` stay pending (each job takes >= 1 GPU)
    pending_before = len(book.pending)
    times, cpu, started = [], [], []
    for _ in range(cycles):
        running = list(book.running)
        ending = [int(j) for j in rng.choice(running, min(finish, len(running)), replace=False)]
        executor.finish(ending)
        submit(service, make_jobs(rng, len(ending), sizes))
        before = {int(j) for j in book.running}
        times.append(cycle(service, cpu))
        started.append(len({int(j) for j in book.running} - before))
    done = service.store.counts()
    verdict = service.audit.verify()
    assert verdict.ok, verdict.message
    service.store.close()
    starts = np.array(started)
    return {
        "gpus": nodes * 8,
        "finished_per_cycle": finish,
        "started_per_cycle": {"mean": round(float(starts.mean()), 2), "min": int(starts.min()), "max": int(starts.max())},
        "pending_before": pending_before,
        "pending_after": len(book.pending),
        "completed": sum(n for _, st, n in done if st is JobPhase.COMPLETED),
        **stats(times, cpu),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--policy", default="fifo-backfill")
    ap.add_argument("--nodes", type=int, default=16, help="churn scenario: nodes of 8 GPUs")
    ap.add_argument("--finish", type=int, default=4, help="churn scenario: running jobs that end before each cycle")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "policy": args.policy,
            "pending_jobs": args.jobs,
            "cycles": args.cycles,
            "blocked": blocked(Path(tmp), args.policy, args.jobs, args.cycles),
            "churn": churn(Path(tmp), args.policy, args.jobs, args.cycles, args.nodes, args.finish),
            "goal_p99_ms": 50,
        }
    path = write_result(f"service_cycle_{args.policy.split(':')[0]}", result)
    print(result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
