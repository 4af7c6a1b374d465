"""One scheduling cycle of the service loop with thousands of pending jobs, in process (no HTTP).

A cycle is what the loop thread does when it wakes: apply queued commands, take the executor's
events, and ask the policy to decide. The bench builds a real service (SQLite store in a temporary
directory, a configured inventory of 8 GPUs) with an executor that launches nothing, starts one
4-GPU job that never ends, and queues `--jobs` jobs of 5 to 8 GPUs: none can start, so every cycle
sees the same 5,000 pending jobs and 4 free GPUs, and the policy does its full work each time.
Reports the admission of the batch (one cycle) and p50/p99 over repeated steady cycles; the goal
is p99 <= 50 ms.

    .venv/bin/python bench/service_cycle.py [--jobs 5000] [--cycles 200] [--policy fifo-backfill]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from common import write_result
from kaon.executors.base import Executor, ExecutorEvent, Recovery, RunRequest
from kaon.service.runtime import Service, build_service
from kaon.service.settings import ServiceSettings
from kaon.store.records import Grant, NewJob


class IdleExecutor(Executor):
    """Launches nothing and reports nothing: jobs it is given look like they run forever."""

    def __init__(self) -> None:
        self._running: set[int] = set()

    def launch(self, run: RunRequest, grant: Grant) -> None:
        self._running.add(run.job_id)

    def preempt(self, job_id: int, grace_s: float) -> None:
        pass

    def cancel(self, job_id: int, grace_s: float) -> None:
        pass

    def poll(self) -> list[ExecutorEvent]:
        return []

    def recover(self, run: RunRequest, grant: Grant, pid: int | None, started_at: float | None) -> Recovery:
        return Recovery.NEVER_STARTED

    def running(self) -> frozenset[int]:
        return frozenset(self._running)


def cycle(service: Service) -> float:
    """One pass of the loop body (commands, executor events, decision); returns seconds."""
    loop = service.loop
    t0 = time.perf_counter()
    with loop.locked():
        loop._commands_done()  # noqa: SLF001 - the loop's own cycle, driven by hand
        loop._events_done(loop.executor.poll())  # noqa: SLF001
        loop._decide(loop.clock())  # noqa: SLF001
    return time.perf_counter() - t0


def submit(service: Service, jobs: list[NewJob]) -> None:
    records = service.store.add_jobs(jobs, time.time(), service.log_dir)
    service.loop.submitted(records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=5000)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--policy", default="fifo-backfill")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings(
            db_url=f"sqlite:///{Path(tmp) / 'kaon.db'}", gpus=8, gpu_type="v100", state_dir=Path(tmp) / "state",
            policy=args.policy, dev_no_auth=True,
        )
        service = build_service(settings, executor=IdleExecutor())
        submit(service, [NewJob(("sleep", "inf"), gpus=4, time_limit_s=86_400)])
        cycle(service)
        assert len(service.loop.book.running) == 1, "the blocking job did not start"
        rng = np.random.default_rng(0)
        jobs = [
            NewJob(("true",), gpus=int(g), time_limit_s=float(t), queue=f"q{i % 4}", user=f"u{i % 17}")
            for i, (g, t) in enumerate(zip(rng.integers(5, 9, args.jobs), rng.uniform(60, 86_400, args.jobs)))
        ]
        submit(service, jobs)
        admit_s = cycle(service)
        assert len(service.loop.book.pending) == args.jobs
        times = np.array([cycle(service) for _ in range(args.cycles)]) * 1e3
        assert len(service.loop.book.pending) == args.jobs and len(service.loop.book.running) == 1
        service.store.close()
    result = {
        "policy": args.policy,
        "pending_jobs": args.jobs,
        "cycles": args.cycles,
        "admit_cycle_ms": round(admit_s * 1e3, 2),
        "cycle_p50_ms": round(float(np.percentile(times, 50)), 3),
        "cycle_p99_ms": round(float(np.percentile(times, 99)), 3),
        "cycle_max_ms": round(float(times.max()), 3),
        "goal_p99_ms": 50,
    }
    path = write_result(f"service_cycle_{args.policy.split(':')[0]}", result)
    print(result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
