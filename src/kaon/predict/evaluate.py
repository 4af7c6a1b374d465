"""How good is the predictor, on jobs it has not seen, against the baselines a scheduler could use.

The split is by time, as in deployment: the model is trained at `cutoff` on jobs that had
*finished* by then (a job still running at the cutoff has no known duration; its submit alone is
not enough), optionally only those submitted since `train_start`, and tested on jobs submitted in
[cutoff, end). Test jobs' history features see everything that had finished before their own
submit, training-window jobs included: that is what a live predictor knows.

Scores, on the test jobs:
- `mae_log`: mean |log(predicted) - log(true)|; 0.69 means off by a factor of 2 on (geometric) average;
- `spearman`: rank correlation of predicted and true durations (what a shortest-first scheduler
  needs); `spearman_gpu_time` the same for duration x GPUs, what `qssf` ranks by;
- `coverage`: fraction of true durations inside [p10, p90] (ideal 0.8), model only;
- `below_estimate`: fraction of true durations below the point estimate (ideal 0.5 for a median).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from datetime import timedelta

import numpy as np

from kaon.core.job import Trace
from kaon.predict.baselines import baseline_predictions
from kaon.predict.features import History, JobColumns
from kaon.predict.model import PredictorConfig, PredictorError, RuntimePredictor

DEFAULT_CUTOFF = "2017-10-15"


@dataclass(frozen=True, slots=True)
class Scores:
    predictor: str
    mae_log: float
    spearman: float
    spearman_gpu_time: float
    coverage: float | None
    below_estimate: float


@dataclass(frozen=True, slots=True)
class Evaluation:
    source: str
    cutoff_s: float
    cutoff: str | None
    train_start_s: float | None
    end_s: float | None
    train_jobs: int
    test_jobs: int
    scores: tuple[Scores, ...]

    def to_dict(self) -> dict[str, object]:
        return _finite(asdict(self))

    def score(self, predictor: str) -> Scores:
        return next(s for s in self.scores if s.predictor == predictor)


def _finite(obj: object) -> object:
    """NaN -> None, so the JSON form is valid JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")  # undefined for a constant predictor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scipy.stats import spearmanr  # scipy.stats costs seconds to import; only evaluation needs it

        return float(spearmanr(a, b).statistic)


def score(
    name: str, predicted: np.ndarray, true: np.ndarray, gpus: np.ndarray, interval: tuple[np.ndarray, np.ndarray] | None = None
) -> Scores:
    coverage = None
    if interval is not None:
        low, high = interval
        coverage = float(np.mean((true >= low) & (true <= high)))
    return Scores(
        predictor=name,
        mae_log=float(np.mean(np.abs(np.log(predicted) - np.log(true)))),
        spearman=_spearman(predicted, true),
        spearman_gpu_time=_spearman(predicted * gpus, true * gpus),
        coverage=coverage,
        below_estimate=float(np.mean(true < predicted)),
    )


def time_split(
    trace: Trace, cutoff_s: float, train_start_s: float | None = None, end_s: float | None = None
) -> tuple[Trace, Trace, History, History]:
    """(training jobs, test jobs, history known at the cutoff, history of everything up to `end_s`)."""
    cols = JobColumns.of(trace.jobs)
    finish = cols.submit + cols.duration
    end = float("inf") if end_s is None else end_s
    start = -float("inf") if train_start_s is None else train_start_s
    known = finish <= cutoff_s
    train = [j for j, k in zip(trace.jobs, known.tolist()) if k and j.submit_time >= start]
    test = [j for j in trace.jobs if cutoff_s <= j.submit_time < end]
    upto = cols.submit < end
    return (
        trace.with_jobs(train),
        trace.with_jobs(test),
        History.of_trace_jobs(cols.take(np.flatnonzero(known))),
        History.of_trace_jobs(cols.take(np.flatnonzero(upto))),
    )


def fit_until(
    trace: Trace, cutoff_s: float, train_start_s: float | None = None, config: PredictorConfig | None = None
) -> RuntimePredictor:
    """A predictor trained at `cutoff_s` (see the module docstring for which jobs it learns from)."""
    train, _, known, _ = time_split(trace, cutoff_s, train_start_s)
    if len(train) < 2:
        raise PredictorError(f"{trace.source}: only {len(train)} job(s) finished before the cutoff; nothing to learn from")
    return RuntimePredictor(config).fit(train, history=known)


def evaluate(
    trace: Trace,
    cutoff_s: float,
    *,
    train_start_s: float | None = None,
    end_s: float | None = None,
    config: PredictorConfig | None = None,
) -> tuple[Evaluation, RuntimePredictor]:
    """Train at `cutoff_s`, score the model and the baselines on jobs submitted in [cutoff, end)."""
    train, test, known, everything = time_split(trace, cutoff_s, train_start_s, end_s)
    if len(test) == 0:
        raise PredictorError(f"{trace.source}: no job submitted after the cutoff to test on")
    predictor = fit_until(trace, cutoff_s, train_start_s, config)
    predicted = predictor.predict(test, history=everything)
    cols = JobColumns.of(test.jobs)
    true, gpus = cols.duration, cols.num_gpus.astype(np.float64)
    global_median = float(np.median([j.duration for j in train.jobs]))
    base = baseline_predictions(cols, everything, global_median)
    scores = (
        score("model", predicted.estimate, true, gpus, (predicted.p10, predicted.p90)),
        score("queue median", base.queue_median, true, gpus),
        score("last similar", base.last_similar, true, gpus),
        score("global median", base.global_median, true, gpus),
    )
    cutoff_date = (trace.epoch + timedelta(seconds=cutoff_s)).isoformat() if trace.epoch else None
    evaluation = Evaluation(
        trace.source, cutoff_s, cutoff_date, train_start_s, end_s, len(train), len(test), scores
    )
    return evaluation, predictor

