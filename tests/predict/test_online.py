"""OnlineEstimator: queue medians first, a fitted model after `min_history` finishes; and the
PredictorEstimator cache."""

from __future__ import annotations

import numpy as np

from kaon.core.job import JobSpec
from kaon.predict.estimator import PredictorEstimator
from kaon.predict.model import PredictorConfig, RuntimePredictor
from kaon.predict.online import PRIOR_S, Estimate, OnlineEstimator
from kaon.sim.state import JobState
from kaon.traces.synthetic import synthetic_trace


def _state(spec: JobSpec, index: int) -> JobState:
    return JobState(spec, index, np.ones(1))


def test_queue_median_until_enough_history_then_a_model() -> None:
    est = OnlineEstimator(min_history=20, refit_every=10, max_train=40)
    first = _state(JobSpec("j0", 0.0, 100.0, 1, queue="a"), 0)
    assert est.arrived(first, 0.0) == Estimate(PRIOR_S, PRIOR_S, PRIOR_S)
    est.finished(first, 100.0)
    nxt = _state(JobSpec("j1", 101.0, 50.0, 1, queue="b"), 1)
    assert est.arrived(nxt, 101.0) == Estimate(100.0, 100.0, 100.0)  # no history in b: all queues
    est.finished(nxt, 151.0)
    t = 200.0
    for i in range(2, 20):
        job = _state(JobSpec(f"j{i}", t, 10.0 * i, 1 + i % 2, queue="a"), i)
        assert est.arrived(job, t) is not None  # no model yet: the fallback answers at once
        est.finished(job, t + job.spec.duration)
        t += 500.0
    assert est.refits == 1 and est.predictor is not None  # fitted at the 20th finish
    late = _state(JobSpec("late", t, 30.0, 1, queue="a"), 99)
    assert est.arrived(late, t) is None
    (e,) = est.estimate_many([late])
    assert e.p10 <= e.point <= e.p90 and e.point > 0


def test_predictor_estimator_batches_a_trace_and_caches_strangers() -> None:
    trace = synthetic_trace(300, seed=4)
    predictor = RuntimePredictor(PredictorConfig(max_iter=10)).fit(trace.with_jobs(trace.jobs[:200]))
    test = trace.with_jobs(trace.jobs[200:])
    adapter = PredictorEstimator(predictor, test)
    expected = predictor.predict(test).estimate
    assert [adapter.estimate(_state(j, i)) for i, j in enumerate(test.jobs[:5])] == expected[:5].tolist()
    stranger = _state(JobSpec("new", 1e7, 60.0, 2, queue="q1"), 0)
    value = adapter.estimate(stranger)
    assert value > 0 and adapter.estimate(stranger) == value


def test_jobs_finished_before_the_run_warm_the_history_and_the_medians() -> None:
    """A window replay or a restarted service starts with the recent past: the first arrival's
    history features (last durations of its queue) are those of the prior jobs, not missing."""
    from kaon.core.job import PriorJob

    job = _state(JobSpec("j", 0.0, 100.0, 1, queue="a"), 0)
    cold = OnlineEstimator()
    cold_row = cold.history.features(job.spec, 0.0)
    warm = OnlineEstimator()
    warm.observe_prior([PriorJob(JobSpec(f"p{i}", 0.0, 10.0 * (i + 1), 1, queue="a"), -100.0 + i) for i in range(3)])
    row = warm.history.features(job.spec, 0.0)
    assert np.isnan(cold_row[0]) and row[0] == np.log(20.0)  # the median of 10, 20, 30 s
    assert warm.arrived(job, 0.0) == Estimate(20.0, 20.0, 20.0)  # the queue median, before any model
