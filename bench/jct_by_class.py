"""Where a policy's average JCT comes from: each job-duration class's share of it, per policy.

Replays one scenario of the learning evaluation (a test window of `kaon.experiment.DEFAULT_PLAN`,
a cluster, an offered load; sized exactly as `bench/learning_eval.py` sizes it) under each
`--policy` spec and splits the average JCT by the jobs' duration on the reference type: a class's
share is the sum of its jobs' JCTs over all jobs, in hours, so the shares add up to the average.
docs/RESULTS.md ("Where the heterogeneous gap comes from") quotes this.

    .venv/bin/python bench/jct_by_class.py --window 1 --cluster gavel-hetero --load 1 \\
        --policy gavel --policy srtf --policy learned:path=runs/models/es5-gavel-hetero
"""

from __future__ import annotations

import argparse

import numpy as np
from common import write_result

from kaon.experiment import DEFAULT_PLAN
from kaon.experiment.scenarios import ScenarioBuilder
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate

EDGES_H = (0.0, 1 / 6, 1.0, 4.0, 24.0, np.inf)
"""Duration classes, hours on the reference type: under 10 min, to 1 h, 4 h, a day, longer."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=int, default=1, help="index into the plan's test windows")
    ap.add_argument("--cluster", default="gavel-hetero")
    ap.add_argument("--load", type=float, default=1.0)
    ap.add_argument("--policy", action="append", required=True, metavar="SPEC")
    args = ap.parse_args()
    plan = DEFAULT_PLAN
    window = plan.test_windows[args.window]
    sized = ScenarioBuilder(plan).sized(window, args.cluster, args.load)
    duration_h = np.array([j.duration for j in sized.trace.jobs]) / 3600
    classes = np.digitize(duration_h, EDGES_H[1:-1])
    rows = {}
    for spec in args.policy:
        result = simulate(sized.trace, sized.scenario.cluster, make_policy(spec), SimConfig(restart_overhead_s=30.0))
        by_id = {j.job_id: (j.finish_time - j.spec.submit_time) / 3600 for j in result.jobs}
        jct = np.array([by_id[j.job_id] for j in sized.trace.jobs])
        shares = [float(jct[classes == c].sum() / len(jct)) for c in range(len(EDGES_H) - 1)]
        rows[spec] = {"avg_jct_h": float(jct.mean()), "share_h": shares}
        print(f"{spec}: avg {jct.mean():.3f} h; by class " + " ".join(f"{s:.3f}" for s in shares))
    counts = [int((classes == c).sum()) for c in range(len(EDGES_H) - 1)]
    print("jobs per class:", counts, "class edges (h):", EDGES_H)
    write_result(
        "jct_by_class",
        {"window": str(window), "cluster": args.cluster, "load": args.load, "gpus": sized.sizing.total_gpus,
         "class_edges_h": [float(e) for e in EDGES_H], "jobs_per_class": counts, "policies": rows},
    )  # fmt: skip


if __name__ == "__main__":
    main()
