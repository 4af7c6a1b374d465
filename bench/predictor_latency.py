"""One job through the runtime predictor: scikit-learn's `predict` against the compiled forest.

A scheduler predicts a handful of jobs at nearly every decision, so what matters is the cost of
one small call. Fits a predictor on the bundled Philly history before 2017-10-15 (or loads DIR),
then times the three models (point, p10, p90) on one job's features, both ways, alternating in
one process so machine noise hits both alike, and checks they agree.

    .venv/bin/python bench/predictor_latency.py [--model DIR] [--repeat 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import write_result

from kaon.predict.forest import Forest
from kaon.predict.model import RuntimePredictor, _controller


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="a saved predictor directory (default: fit one on the bundled Philly history)")
    ap.add_argument("--repeat", type=int, default=300)
    args = ap.parse_args()
    if args.model:
        predictor = RuntimePredictor.load(args.model)
    else:
        from kaon.predict.evaluate import fit_until
        from kaon.traces.formats import read_trace
        from kaon.traces.scenario import parse_instant

        trace = read_trace("philly-2017-09-10.csv.gz")
        predictor = fit_until(trace, parse_instant("2017-10-15", trace))
    x = np.random.default_rng(0).normal(size=(1, predictor.models[0].n_features_in_))
    forest = Forest.of_many(list(predictor.models))
    expected = np.column_stack([m.predict(x) for m in predictor.models])
    assert np.allclose(forest.predict_all(x), expected, rtol=0, atol=1e-9)
    sk, fo = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with _controller().limit(limits=1, user_api="openmp"):
            for m in predictor.models:
                m.predict(x)
        t1 = time.perf_counter()
        forest.predict_all(x)
        t2 = time.perf_counter()
        sk.append((t1 - t0) * 1e3)
        fo.append((t2 - t1) * 1e3)
    row = {
        "sklearn_p50_ms": round(float(np.percentile(sk, 50)), 3),
        "forest_p50_ms": round(float(np.percentile(fo, 50)), 3),
        "ratio_p50": round(float(np.percentile(sk, 50) / np.percentile(fo, 50)), 1),
    }
    print(row)
    print("written", write_result("predictor_latency", row))


if __name__ == "__main__":
    main()
