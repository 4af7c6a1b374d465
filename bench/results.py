"""Every baseline side by side on several scenarios: the tables of docs/RESULTS.md.

Each scenario is a `ScenarioSpec` (bundled Philly trace, a window, a cluster); each table is one
`run_comparison` of all baselines on it, run in parallel worker processes. Writes markdown tables
to bench/out/results.md and the raw numbers to bench/out/results.json.

    .venv/bin/python bench/results.py [--workers 2] [--scenarios demo,homogeneous,hetero-w39]
"""

from __future__ import annotations

import argparse
import json
import math
import time

from common import OUT, write_result

from kaon.compare import DEMO, ScenarioSpec, demo_policies, load_scenario, run_comparison

SCENARIOS = {
    "demo": DEMO,
    "homogeneous": ScenarioSpec(
        trace="philly-2017-09-10.csv.gz", cluster="v100-homogeneous", start="2017-10-16", end="2017-10-23",
    ),
    "hetero-w39": ScenarioSpec(
        trace="philly-2017-09-10.csv.gz", cluster="gavel-hetero", start="2017-09-25", end="2017-10-02",
        cluster_scale=1.25,
    ),
}


def hours(x: float) -> str:
    return "-" if math.isnan(x) else f"{x / 3600:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = ap.parse_args()
    lines: list[str] = []
    raw: dict[str, object] = {}
    for name in args.scenarios.split(","):
        spec = SCENARIOS[name]
        scenario = load_scenario(spec)
        t0 = time.perf_counter()
        comparison = run_comparison(scenario.trace, scenario.cluster, demo_policies(), workers=args.workers)
        wall = time.perf_counter() - t0
        best = comparison.best_avg_jct()
        lines += [
            f"### {name}: {spec.trace} {spec.start} .. {spec.end}, {len(scenario.trace)} jobs, "
            f"{scenario.cluster.name} x{spec.cluster_scale} ({scenario.cluster.total_gpus} GPUs)",
            "",
            "| policy | avg JCT (h) | p50 | p95 | p99 | avg queue (h) | avg slowdown | p99 slowdown | "
            "preemptions | rho mean | rho max | unfinished | JCT / best |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        rows = {}
        for run in comparison.runs:
            m = run.metrics
            rows[run.spec] = {k: getattr(m, k) for k in m.__dataclass_fields__}
            lines.append(
                f"| {run.spec} | {hours(m.avg_jct_s)} | {hours(m.p50_jct_s)} | {hours(m.p95_jct_s)} | "
                f"{hours(m.p99_jct_s)} | {hours(m.avg_queue_s)} | {m.avg_slowdown:.2f} | {m.p99_slowdown:.1f} | "
                f"{m.preemptions} | {m.ftf_rho_mean:.3f} | {m.ftf_rho_max:.2f} | {m.unfinished} | "
                f"{m.avg_jct_s / best:.2f} |"
            )
        lines += ["", f"({len(comparison.runs)} policies in {wall:.0f} s wall, {args.workers} workers)", ""]
        raw[name] = rows
        print("\n".join(lines[-(len(comparison.runs) + 6):]), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("written", write_result("results", {"scenarios": json.loads(json.dumps(raw, default=str))}))


if __name__ == "__main__":
    main()
