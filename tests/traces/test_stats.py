"""Trace summary numbers on a hand-made trace whose answers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.traces.stats import DurationStats, trace_stats

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _trace(epoch: datetime | None = EPOCH) -> Trace:
    jobs = (
        JobSpec("a", 0.0, 3600.0, 1, "q1", "A3C", "ann"),
        JobSpec("b", 600.0, 7200.0, 4, "q1", None, "bob"),
        JobSpec("c", 1800.0, 1800.0, 2, "q2", "A3C", "ann"),
        JobSpec("d", 3600.0, 360.0, 1, "q1", "LM (batch size 5)", None),
    )
    skipped = (
        "f.csv:3: CPU-only pod (num_gpu=0)",
        "f.csv:9: CPU-only pod (num_gpu=0)",
        "f.csv:12: field 'duration': cannot parse 'x': could not convert string to float: 'x'",
        "f.csv:13: field 'duration': cannot parse 'y': could not convert string to float: 'y'",
    )
    return Trace(jobs, "f.csv", "test", epoch, skipped)


def test_numbers() -> None:
    s = trace_stats(_trace())
    assert s.jobs == 4
    assert (s.first_submit_s, s.last_submit_s, s.span_s) == (0.0, 3600.0, 3600.0)
    assert s.first_submit_date == EPOCH
    assert s.last_submit_date == datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert s.gpu_histogram == ((1, 2), (2, 1), (4, 1))
    # GPU-seconds: 3600 + 28800 + 3600 + 360 = 36360
    assert s.gpu_hours == pytest.approx(36360 / 3600)
    assert s.offered_load_gpus == pytest.approx(36360 / 3600)
    # durations sorted: 360, 1800, 3600, 7200 -> numpy linear percentiles
    assert s.duration == DurationStats(p50=2700.0, p90=pytest.approx(6120.0), p99=pytest.approx(7092.0), max=7200.0)
    assert s.queues == (("q1", 3), ("q2", 1))
    assert s.users == 2
    assert s.job_types == (("A3C", 2), ("(none)", 1), ("LM (batch size 5)", 1))
    assert s.skipped == 4
    assert s.skip_reasons == (
        ("CPU-only pod (num_gpu=0)", 2),
        ("field 'duration': cannot parse …: could not convert string to float: …", 2),
    )


def test_undated_and_json() -> None:
    s = trace_stats(_trace(epoch=None))
    assert s.first_submit_date is None and s.last_submit_date is None
    d = s.to_dict()
    assert d["first_submit_date"] is None
    assert d["duration"] == {"p50": 2700.0, "p90": pytest.approx(6120.0), "p99": pytest.approx(7092.0), "max": 7200.0}
    assert trace_stats(_trace()).to_dict()["first_submit_date"] == "2024-01-01T00:00:00+00:00"


def test_empty_and_single_instant() -> None:
    empty = trace_stats(Trace((), "e", "test", None, ("e:2: CPU-only pod (num_gpu=0)",)))
    assert (empty.jobs, empty.span_s, empty.duration, empty.offered_load_gpus) == (0, None, None, None)
    assert empty.skipped == 1
    one = trace_stats(Trace((JobSpec("a", 5.0, 10.0, 2),)))
    assert one.span_s == 0.0 and one.offered_load_gpus is None and one.gpu_hours == pytest.approx(20 / 3600)
