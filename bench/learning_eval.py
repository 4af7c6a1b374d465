"""The learning evaluation of docs/RESULTS.md: candidates against the tuned bar after the cut.

Tunes the bar baselines on the training windows (cached in OUT/tuned.json; --retune to redo),
replays every test window x load x cluster, and writes OUT/results.json and OUT/learning.md.
The work is `kaon.experiment`; `kaon evaluate` is the same with the same options.

    .venv/bin/python bench/learning_eval.py --workers 2
    .venv/bin/python bench/learning_eval.py --workers 2 \\
        --learned v100-homogeneous=models/homo --learned gavel-hetero=models/het
    .venv/bin/python bench/learning_eval.py --out OUT --render   # OUT/learning.md again, no replay
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import OUT

from kaon.experiment import DEFAULT_PLAN, run_evaluation
from kaon.experiment.plan import candidate_specs, plan_from_text, windows_text
from kaon.experiment.report import RESULTS_JSON, read_results, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT / "learning")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--learned", action="append", default=[], metavar="CLUSTER=DIR")
    ap.add_argument("--policy", action="append", default=[], metavar="SPEC", help="candidate on every cluster")
    ap.add_argument("--until", default=DEFAULT_PLAN.until)
    ap.add_argument("--train-windows", default=windows_text(DEFAULT_PLAN.train_windows))
    ap.add_argument("--test-windows", default=windows_text(DEFAULT_PLAN.test_windows))
    ap.add_argument("--loads", default=",".join(f"{x:g}" for x in DEFAULT_PLAN.loads))
    ap.add_argument("--clusters", default=",".join(DEFAULT_PLAN.clusters))
    ap.add_argument("--retune", action="store_true")
    ap.add_argument("--render", action="store_true", help="rewrite OUT/learning.md from OUT/results.json")
    args = ap.parse_args()
    if args.render:
        for path in write_results(args.out, read_results(args.out / RESULTS_JSON)):
            print("written", path)
        return
    plan = plan_from_text(
        DEFAULT_PLAN.trace, args.until, args.train_windows, args.test_windows, args.loads, args.clusters
    )
    candidates = candidate_specs(plan.clusters, args.learned, args.policy)
    result = run_evaluation(plan, args.out, args.workers, candidates, args.retune, log=lambda m: print(m, flush=True))
    for path in write_results(args.out, result):
        print("written", path)


if __name__ == "__main__":
    main()
