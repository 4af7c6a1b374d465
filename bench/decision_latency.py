"""One scheduling decision with many pending jobs on a large cluster, per policy.

Builds a busy snapshot (a 1,000-node heterogeneous cluster, 5,000 jobs pending), informs each
policy of it through the same hooks the engine calls, then times `decide()` repeatedly on that
snapshot. Two snapshots: `event` (the cluster full but for the GPUs one finished job just freed,
the decision an event-driven scheduler makes at almost every event) and `bulk` (5% of GPUs free,
so one decision starts a few hundred jobs). Reports p50/p99 in milliseconds side by side.

With `--arrival`, one new job arrives before each timed decision (its `job_arrived` hook is
untimed, the decision that ranks it is timed): for policies that predict runtimes (`psrtf`,
`scored`, `learned:path=DIR`), every decision then includes a predictor call, as in a live
scheduler where jobs keep arriving. Learned policies are measured with `--policies
learned:path=DIR` (a model trained with `kaon train` on a cluster with GPU types v100, p100, k80).

With `--priorities 0,1,3`, each policy is measured once per value N: N = 0 as it is; N >= 1 inside
the service's `PriorityPreemption` wrapper with every job's priority drawn from N levels (N = 1:
one level, the wrapper's fast path), side by side in one run.

    .venv/bin/python bench/decision_latency.py [--pending 5000] [--nodes 1000] [--repeat 200]
    .venv/bin/python bench/decision_latency.py --pending 1000 --arrival --snapshots event \
        --policies las,tiresias,learned:path=models/het
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from common import write_result

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.placement import FreeCapacity
from kaon.core.throughput import SpeedModel
from kaon.policy.base import Policy, SchedulerView
from kaon.policy.precedence import PriorityPreemption
from kaon.policy.registry import available, make_policy
from kaon.sim.state import JobState, JobStatus
from kaon.traces.synthetic import synthetic_trace

SNAPSHOTS = {"event": 0.0, "bulk": 0.05}
HEURISTICS = ("fifo", "fifo-backfill", "sjf", "srtf", "las", "tiresias", "gittins", "gavel", "gavel-agnostic")


def snapshot(
    nodes: int, pending: int, free_fraction: float, seed: int = 0, priorities: int = 0
) -> tuple[ClusterSpec, list[JobState], list[JobState]]:
    types = (GpuType("v100"), GpuType("p100"), GpuType("k80"))
    per = nodes // 3
    cluster = ClusterSpec(
        "bench",
        types,
        tuple(NodeSpec(f"{t.name}-{i}", t.name, 8) for t in types for i in range(per + (nodes - 3 * per if t.name == "v100" else 0))),
        "v100",
    )
    trace = synthetic_trace(pending + 6 * nodes, seed=seed, mean_interarrival_s=5)
    model = SpeedModel(cluster)
    rng = np.random.default_rng(seed)
    specs = [replace(s, priority=int(rng.integers(priorities))) if priorities > 1 else s for s in trace.jobs]
    jobs = [JobState(s, i, model.speeds(s.job_type, s.num_gpus)) for i, s in enumerate(specs)]
    cap = FreeCapacity(cluster)
    running: list[JobState] = []
    now = trace.jobs[-1].submit_time
    queue: list[JobState] = []
    for job in jobs:
        if cap.total_free > free_fraction * cluster.total_gpus:
            p = cap.place(job.num_gpus, [0, 1, 2])
            if p is not None:
                cap.allocate(p)
                job.status, job.placement, job.rate = JobStatus.RUNNING, p, float(job.speeds[p.gpu_type])
                job.run_start = job.progress_start = job.first_start = now - float(rng.uniform(0, 3600))
                job.starts = 1
                running.append(job)
                continue
        queue.append(job)
    if free_fraction == 0.0 and running:
        running.pop()  # the job that just finished: its GPUs are the free ones
    return cluster, running, queue[:pending]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--policies", default=",".join(p for p in HEURISTICS))
    ap.add_argument("--snapshots", default="event,bulk")
    ap.add_argument("--arrival", action="store_true", help="one new job arrives before each timed decision")
    ap.add_argument("--priorities", default="0", help="comma list of N: 0 the policy alone, N >= 1 in PriorityPreemption with N levels")
    args = ap.parse_args()
    rows = []
    for kind in args.snapshots.split(","):
        for name in args.policies.split(","):
            if name.split(":")[0] not in available():
                print(f"{name}: not registered, skipped")
                continue
            for levels in (int(n) for n in args.priorities.split(",")):
                rows.append(measure(kind, name, args, levels))
    print("written", write_result("decision_latency", {"rows": rows}))


def measure(kind: str, name: str, args: argparse.Namespace, levels: int) -> dict[str, object]:
    cluster, running, queued = snapshot(
        args.nodes, args.pending + (args.repeat if args.arrival else 0), SNAPSHOTS[kind], priorities=levels
    )
    pending, arrivals = queued[: args.pending], queued[args.pending :]
    cap = FreeCapacity(cluster)
    for j in running:
        assert j.placement is not None
        cap.allocate(j.placement)
    now = max(j.spec.submit_time for j in queued) + 1
    policy: Policy = make_policy(name)
    if levels:
        policy = PriorityPreemption(policy)
    for j in running:
        policy.job_arrived(j, j.spec.submit_time)
        policy.job_started(j, j.run_start)
    for j in pending:
        policy.job_arrived(j, j.spec.submit_time)
    waiting = {j.job_id: j for j in pending}
    view = SchedulerView(now, waiting, {j.job_id: j for j in running}, cap, cluster)
    policy.decide(view)  # the first decision ranks the whole snapshot; the timed ones what changed since
    times = []
    for k in range(args.repeat):
        if arrivals:
            policy.job_arrived(arrivals[k], now)
            waiting[arrivals[k].job_id] = arrivals[k]
        t0 = time.perf_counter()
        policy.decide(view)
        times.append((time.perf_counter() - t0) * 1e3)
    row = {
        "snapshot": kind + ("+arrival" if args.arrival else ""),
        "free_gpus": cap.total_free,
        "policy": name + (f"+priority:{levels}" if levels else ""),
        "pending": len(pending),
        "running": len(running),
        "nodes": len(cluster.nodes),
        "p50_ms": round(float(np.percentile(times, 50)), 3),
        "p99_ms": round(float(np.percentile(times, 99)), 3),
    }
    print(row, flush=True)
    return row


if __name__ == "__main__":
    main()
