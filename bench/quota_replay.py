"""Replay the demo week (Philly, 2017-10-02 .. 10-09, gavel-hetero) under policies with and
without fair-share quotas (bench/philly-quotas.yaml), in one process, one after the other:
wall time, average JCT and the quota / plain wall-time ratio per policy.

    .venv/bin/python bench/quota_replay.py [--policies fifo,fifo-backfill] [--end 2017-10-09]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from common import write_result

from kaon.compare import DEMO, build_policy, load_scenario
from kaon.quota.quotas import QuotaBook, load_quotas
from kaon.sim.engine import SimConfig, Simulator

QUOTAS = Path(__file__).resolve().parent / "philly-quotas.yaml"


def one(spec: str, scenario, quotas: QuotaBook | None) -> dict[str, object]:  # noqa: ANN001
    t0 = time.perf_counter()
    result = Simulator(scenario.trace, scenario.cluster, build_policy(spec, quotas), SimConfig()).run(None)
    wall = time.perf_counter() - t0
    done = [j for j in result.jobs if j.finish_time is not None]
    return {
        "wall_s": round(wall, 2),
        "decisions": result.decisions,
        "avg_jct_h": round(sum(j.finish_time - j.spec.submit_time for j in done) / len(done) / 3600, 2),  # type: ignore[operator]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--policies", default="fifo,fifo-backfill")
    ap.add_argument("--end", default=DEMO.end, help="window end (the demo week's by default)")
    args = ap.parse_args()
    scenario = load_scenario(dataclasses.replace(DEMO, end=args.end))
    quotas = load_quotas(QUOTAS)
    rows = []
    for spec in args.policies.split(","):
        plain, quota = one(spec, scenario, None), one(spec, scenario, quotas)
        rows.append({"policy": spec, "jobs": len(scenario.trace), "plain": plain, "quota": quota,
                     "wall_ratio": round(quota["wall_s"] / plain["wall_s"], 2)})  # type: ignore[operator]  # fmt: skip
        print(rows[-1], flush=True)
    print("written", write_result("quota_replay", {"window": [DEMO.start, args.end], "rows": rows}))


if __name__ == "__main__":
    main()
