"""Replay the whole bundled Philly history (52,849 jobs) on a cluster of a few hundred GPUs.

Each policy runs in its own subprocess so its peak memory (ru_maxrss) is its own. Reports wall
time, events per second and peak RSS per policy, side by side in one run, plus ratios to fifo.

    .venv/bin/python bench/replay_philly.py [--policies fifo,tiresias] [--cluster v100-homogeneous]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from common import write_result

from kaon.core.cluster import load_cluster
from kaon.policy.registry import make_policy
from kaon.sim.engine import simulate
from kaon.traces.formats import read_trace

PHILLY = "src/kaon/data/traces/philly-2017-09-10.csv.gz"


def one(policy: str, cluster_name: str, scale: float) -> dict[str, object]:
    trace = read_trace(PHILLY)
    cluster = load_cluster(cluster_name).scaled(scale)
    t0 = time.perf_counter()
    result = simulate(trace, cluster, make_policy(policy))
    wall = time.perf_counter() - t0
    finished = [j for j in result.jobs if j.finish_time is not None]
    avg_jct = sum(j.finish_time - j.spec.submit_time for j in finished) / len(finished)  # type: ignore[operator]
    return {
        "policy": policy,
        "jobs": len(trace),
        "gpus": cluster.total_gpus,
        "wall_s": round(wall, 2),
        "events": result.events,
        "events_per_s": round(result.events / wall),
        "decisions": result.decisions,
        "avg_jct_h": round(avg_jct / 3600, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--policies", default="fifo,tiresias")
    ap.add_argument("--cluster", default="v100-homogeneous")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the cluster's node count")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.cluster, args.scale)))
        return
    rows = []
    for policy in args.policies.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", policy, "--cluster", args.cluster, "--scale", str(args.scale)],
            capture_output=True, text=True, check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    base = rows[0]["wall_s"]
    for r in rows:
        r["wall_ratio_to_first"] = round(r["wall_s"] / base, 2)  # type: ignore[operator]
    print("written", write_result("replay_philly", {"rows": rows}))


if __name__ == "__main__":
    main()
