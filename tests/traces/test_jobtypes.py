"""Job-type assignment for untyped traces: deterministic, measured types only, durations kept."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.core.throughput import ThroughputTable, load_throughput_table
from kaon.traces.jobtypes import assign_job_types, candidates_for, types_by_scale


def _trace(sizes: list[int]) -> Trace:
    return Trace(tuple(JobSpec(f"j{i}", float(i), 100.0 + i, g) for i, g in enumerate(sizes)))


SIZES = [1, 2, 4, 8, 16, 3, 1, 1, 32, 6] * 30


def test_deterministic_for_a_seed() -> None:
    trace = _trace(SIZES)
    a = assign_job_types(trace, seed=7)
    b = assign_job_types(trace, seed=7)
    c = assign_job_types(trace, seed=8)
    assert [j.job_type for j in a.jobs] == [j.job_type for j in b.jobs]
    assert [j.job_type for j in a.jobs] != [j.job_type for j in c.jobs]


def test_only_measured_types_at_the_fitting_scale() -> None:
    table = load_throughput_table()
    trace = assign_job_types(_trace(SIZES), seed=0)
    for job in trace.jobs:
        scale = max(s for s in (1, 2, 4, 8) if s <= job.num_gpus)
        for gpu in table.gpu_types:
            assert (gpu, job.job_type, scale) in table.rates


def test_durations_and_everything_else_kept() -> None:
    trace = _trace(SIZES)
    typed = assign_job_types(trace, seed=3)
    assert [replace(j, job_type=None) for j in typed.jobs] == list(trace.jobs)


def test_typed_jobs_keep_their_type_and_use_no_draw() -> None:
    untyped = _trace([1, 1, 1, 1])
    mixed = untyped.with_jobs(
        [untyped.jobs[0], replace(untyped.jobs[1], job_type="A3C"), untyped.jobs[2], untyped.jobs[3]]
    )
    drawn = [j.job_type for j in assign_job_types(_trace([1, 1, 1]), seed=5).jobs]
    got = [j.job_type for j in assign_job_types(mixed, seed=5).jobs]
    assert got == [drawn[0], "A3C", drawn[1], drawn[2]]


def test_uniform_over_candidates() -> None:
    trace = assign_job_types(_trace([8] * 3600), seed=1)
    candidates = candidates_for(8, types_by_scale(load_throughput_table()))
    counts = {t: 0 for t in candidates}
    for j in trace.jobs:
        counts[j.job_type] += 1  # type: ignore[index]
    assert min(counts.values()) > 0.5 * 3600 / len(candidates)


def test_types_by_scale_on_gavel_table() -> None:
    by_scale = types_by_scale(load_throughput_table())
    assert sorted(by_scale) == [1, 2, 4, 8]
    assert len(by_scale[1]) == 26
    assert "A3C" in by_scale[1] and "A3C" not in by_scale[8]
    assert candidates_for(3, by_scale) == by_scale[2]
    assert candidates_for(64, by_scale) == by_scale[8]


def test_custom_table_and_no_fitting_scale() -> None:
    table = ThroughputTable(
        {
            ("fast", "small", 1): 2.0,
            ("slow", "small", 1): 1.0,
            ("fast", "fast-only", 1): 3.0,  # not measured on "slow": never assigned
            ("fast", "big", 4): 1.0,
            ("slow", "big", 4): 0.5,
        }
    )
    trace = assign_job_types(_trace([1, 4, 5]), table=table)
    assert [j.job_type for j in trace.jobs] == ["small", "big", "big"]
    with pytest.raises(ValueError, match="no job type measured"):
        assign_job_types(_trace([1]), table=ThroughputTable({("fast", "big", 4): 1.0}))
