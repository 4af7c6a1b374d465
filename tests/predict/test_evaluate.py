"""Evaluation: the baselines by hand, the scores by hand, and the model against them on Philly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kaon.core.job import JobSpec
from kaon.predict.baselines import baseline_predictions
from kaon.predict.evaluate import evaluate, score, time_split
from kaon.predict.features import History, JobColumns
from kaon.predict.model import PredictorConfig
from kaon.traces.philly import read_philly
from kaon.traces.scenario import parse_instant


def test_baselines_use_only_finished_history() -> None:
    jobs = [
        JobSpec("a", 0.0, 10.0, 1, queue="x"),
        JobSpec("b", 1.0, 30.0, 2, queue="x"),
        JobSpec("c", 2.0, 5000.0, 1, queue="x"),
        JobSpec("d", 100.0, 7.0, 1, queue="x"),
        JobSpec("e", 100.0, 7.0, 4, queue="y"),
    ]
    cols = JobColumns.of(jobs)
    base = baseline_predictions(cols, History.of_trace_jobs(cols), global_median=99.0)
    # Nothing has finished before t=100. Then a (at 10) and b (at 31) have, c not: median 20;
    # the last 1-GPU job of x is a; queue y has no history, so e gets the median over all queues.
    assert base.queue_median.tolist() == [99.0, 99.0, 99.0, 20.0, 20.0]
    assert base.last_similar.tolist() == [99.0, 99.0, 99.0, 10.0, 20.0]
    assert base.global_median.tolist() == [99.0] * 5


def test_scores_by_hand() -> None:
    true = np.array([10.0, 100.0, 1000.0, 10000.0])
    pred = true * np.array([2.0, 0.5, 2.0, 0.5])
    s = score("x", pred, true, np.ones(4), (true / 3, true * 1.5))
    assert math.isclose(s.mae_log, math.log(2))
    assert s.spearman == 1.0
    assert s.coverage == 1.0 and s.below_estimate == 0.5
    assert math.isnan(score("c", np.full(4, 5.0), true, np.ones(4)).spearman)


def test_time_split_trains_only_on_jobs_finished_by_the_cutoff() -> None:
    from kaon.core.job import Trace

    trace = Trace((JobSpec("a", 0.0, 50.0, 1), JobSpec("b", 10.0, 500.0, 1), JobSpec("c", 120.0, 5.0, 1)))
    train, test, known, everything = time_split(trace, 100.0)
    assert [j.job_id for j in train.jobs] == ["a"]
    assert [j.job_id for j in test.jobs] == ["c"]
    assert len(known) == 1 and len(everything) == 3


def test_model_beats_the_median_baselines_on_philly(philly_to_oct11: Path) -> None:
    trace = read_philly(philly_to_oct11)
    cutoff, start, end = (parse_instant(d, trace) for d in ("2017-10-08", "2017-09-28", "2017-10-11"))
    ev, _ = evaluate(trace, cutoff, train_start_s=start, end_s=end, config=PredictorConfig(max_iter=30))
    model, queue, glob = ev.score("model"), ev.score("queue median"), ev.score("global median")
    assert ev.train_jobs > 10000 and ev.test_jobs > 4000
    assert model.mae_log < glob.mae_log
    assert model.spearman > queue.spearman and model.spearman > 0.1
    assert model.coverage is not None and 0 < model.coverage < 1
