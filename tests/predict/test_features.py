"""Features: no information from the future, and the batch and incremental paths agree."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kaon.core.job import JobSpec, Trace
from kaon.predict.features import (
    FeatureSchema,
    History,
    JobColumns,
    RunningHistory,
    Vocabulary,
    clock_features,
    history_features,
    name_template,
    trace_features,
)
from kaon.traces.synthetic import synthetic_trace


def _named_trace(n: int = 400, seed: int = 3) -> Trace:
    """A synthetic trace with users and recurrent job names, so every history group is in use."""
    base = synthetic_trace(n, seed=seed, mean_interarrival_s=30, median_duration_s=600)
    rng = np.random.default_rng(seed)
    users = rng.integers(0, 6, n)
    names = rng.integers(0, 4, n)
    jobs = [
        replace(j, user=f"u{users[i]}", name=f"exp{names[i]}-run{i}", allowed_types=("v100",) if i % 5 == 0 else None)
        for i, j in enumerate(base.jobs)
    ]
    return base.with_jobs(jobs)


def _features_of(trace: Trace, schema: FeatureSchema) -> dict[str, np.ndarray]:
    _, x = trace_features(trace, schema)
    return {j.job_id: x[i] for i, j in enumerate(trace.jobs)}


def test_features_of_a_job_ignore_everything_not_finished_at_its_submit() -> None:
    trace = _named_trace()
    schema = FeatureSchema.learn(JobColumns.of(trace.jobs))
    before = _features_of(trace, schema)
    rng = np.random.default_rng(0)
    for i in (50, 200, 399):
        target = trace.jobs[i]
        t = target.submit_time
        altered = []
        for j in trace.jobs:
            unknown = j.submit_time > t or j.submit_time + j.duration > t
            if j is target or not unknown:
                altered.append(j)
            elif rng.random() < 0.3:
                continue  # removed
            else:
                altered.append(
                    replace(j, duration=float(rng.uniform(1, 1e6)), num_gpus=int(rng.choice([1, 2, 8])),
                            queue=f"q{rng.integers(0, 9)}", user=f"u{rng.integers(0, 9)}", name="other")  # fmt: skip
                )
        after = _features_of(trace.with_jobs(altered), schema)
        np.testing.assert_array_equal(after[target.job_id], before[target.job_id])
    # ...and they do change when a job that had finished changes: the features are not constant.
    last = trace.jobs[-1]
    finished = [j for j in trace.jobs if j.submit_time + j.duration <= last.submit_time]
    changed = trace.with_jobs([replace(j, duration=j.duration * 7) if j in finished else j for j in trace.jobs])
    assert not np.array_equal(_features_of(changed, schema)[last.job_id], before[last.job_id], equal_nan=True)


def test_running_history_matches_the_batch_features() -> None:
    trace = _named_trace(300, seed=5)
    cols = JobColumns.of(trace.jobs)
    schema = FeatureSchema.learn(cols)
    batch = history_features(cols, History.of_trace_jobs(cols), schema.groups, schema.k)
    running = RunningHistory(schema.groups, schema.k)
    finishes = sorted((j.submit_time + j.duration, i) for i, j in enumerate(trace.jobs))
    fi = 0
    for i, job in enumerate(trace.jobs):
        while fi < len(finishes) and finishes[fi][0] <= job.submit_time:
            running.add(trace.jobs[finishes[fi][1]], finishes[fi][0])
            fi += 1
        np.testing.assert_allclose(running.features(job, job.submit_time), batch[i], rtol=1e-12, equal_nan=True)


def test_history_statistics_by_hand() -> None:
    jobs = [
        JobSpec("a", 0.0, 10.0, 1, queue="x"),
        JobSpec("b", 1.0, 100.0, 1, queue="x"),
        JobSpec("c", 2.0, 1000.0, 2, queue="x"),
        JobSpec("d", 200.0, 5.0, 1, queue="x"),
    ]
    cols = JobColumns.of(jobs)
    schema = FeatureSchema.learn(cols)
    x = history_features(cols, History.of_trace_jobs(cols), schema.groups, schema.k)
    names = schema.names[-x.shape[1] :]
    d = dict(zip(names, x[3]))
    # At t=200, a (finished 10) and b (finished 101) are done, c (finishes 1002) is not.
    assert d["vc_gpus_median"] == (np.log(10.0) + np.log(100.0)) / 2
    assert d["vc_gpus_last"] == np.log(100.0)
    assert d["vc_gpus_count"] == np.log1p(2)
    assert d["vc_gpus_since"] == np.log1p(200 - 101)
    assert d["gpus_count"] == np.log1p(2)
    assert np.isnan(x[0]).sum() == 4 * 4 and d["all_count"] == np.log1p(2)


def test_name_template_and_vocabulary() -> None:
    assert name_template("Exp-12-lr0.1") == "exp-#-lr#.#"
    assert name_template(None) == ""
    vocab = Vocabulary.learn(np.array(["b", "a", "b", "c"], dtype=object))
    assert vocab.values == ("b", "a", "c")
    assert vocab.codes(np.array(["c", "zzz"], dtype=object)).tolist() == [2.0, 3.0]


def test_clock_features_use_the_epoch() -> None:
    from datetime import UTC, datetime

    epoch = datetime(2017, 10, 1, 22, 0, tzinfo=UTC)  # a Sunday
    hour, weekday = clock_features(np.array([0.0, 3 * 3600.0]), epoch)
    assert hour.tolist() == [22.0, 1.0]
    assert weekday.tolist() == [6.0, 0.0]
    hour, weekday = clock_features(np.array([86400.0 * 8 + 1800]), None)
    assert hour.tolist() == [0.5] and weekday.tolist() == [1.0]
