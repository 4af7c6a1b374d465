"""`PriorityPreemption` in the simulator: exact schedules on hand-made traces, and properties."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaon.core.job import JobSpec, Trace
from kaon.policy.precedence import PriorityPreemption
from kaon.policy.registry import available, make_policy
from kaon.sim.engine import SimConfig, simulate

NO_OVERHEAD = SimConfig(restart_overhead_s=0.0)


def job(i: str, t: float, gpus: int, dur: float = 100.0, priority: int = 0) -> JobSpec:
    return JobSpec(i, t, dur, gpus, priority=priority)


def run(jobs: list[JobSpec], cluster, inner: str = "fifo"):  # noqa: ANN001
    result = simulate(Trace(tuple(jobs)), cluster, PriorityPreemption(make_policy(inner)), NO_OVERHEAD)
    return {j.job_id: j for j in result.jobs}


def test_a_higher_priority_job_preempts_and_the_victim_resumes(tiny_cluster) -> None:
    jobs = run([job("low", 0, 4), job("high", 10, 4, 50, priority=1)], tiny_cluster(nodes=1))
    assert jobs["high"].first_start == 10 and jobs["high"].finish_time == 60
    assert jobs["low"].preemptions == 1 and jobs["low"].finish_time == 150  # 90 s left after 10 s


def test_equal_priority_never_preempts(tiny_cluster) -> None:
    jobs = run([job("first", 0, 4), job("second", 10, 4, 50)], tiny_cluster(nodes=1))
    assert jobs["first"].preemptions == 0 and jobs["second"].first_start == 100


def test_a_lower_priority_fifo_head_does_not_block(tiny_cluster) -> None:
    # 2 of 4 GPUs busy; strict FIFO's head needs 4 and blocks; the later high-priority job fits in 2
    jobs = run([job("busy", 0, 2), job("head", 1, 4), job("high", 2, 2, 10, priority=1)], tiny_cluster(nodes=1))
    assert jobs["busy"].preemptions == 0
    assert jobs["high"].first_start == 2 and jobs["head"].first_start == 100


def test_victims_are_the_lowest_priority_then_the_newest_and_no_more_than_needed(tiny_cluster) -> None:
    cluster = tiny_cluster(nodes=1, gpus=8)
    jobs = run(
        [job("mid", 0, 2, priority=1), job("old", 1, 2), job("new", 2, 2), job("big", 3, 2), job("high", 10, 2, 10, priority=2)],
        cluster,
    )
    assert jobs["high"].first_start == 10
    assert [n for n in ("mid", "old", "new", "big") if jobs[n].preemptions] == ["big"]


def test_a_job_too_wide_for_the_victims_preempts_nobody(tiny_cluster) -> None:
    jobs = run([job("mid", 0, 2, priority=1), job("low", 0, 2), job("high", 10, 4, 10, priority=1)], tiny_cluster(nodes=1))
    # only "low" is below "high"; its 2 GPUs are not enough, so it keeps running
    assert jobs["low"].preemptions == 0 and jobs["high"].first_start == 100


def test_an_inner_preemption_never_serves_a_lower_priority_job(tiny_cluster) -> None:
    # under LAS alone, "fresh" (no service yet) would preempt "vip" after its lease
    jobs = run([job("vip", 0, 4, 1000, priority=1), job("fresh", 10, 4, 10)], tiny_cluster(nodes=1), inner="las:lease=5")
    assert jobs["vip"].preemptions == 0 and jobs["vip"].finish_time == 1000 and jobs["fresh"].first_start == 1000


def test_one_priority_gives_the_inner_schedule(tiny_cluster) -> None:
    trace = [job(f"j{i}", i * 7.0, 1 + i % 4, 50.0 + 13 * i) for i in range(30)]
    for inner in ("fifo-backfill", "las", "gavel"):
        alone = simulate(Trace(tuple(trace)), tiny_cluster(), make_policy(inner), NO_OVERHEAD)
        wrapped = simulate(Trace(tuple(trace)), tiny_cluster(), PriorityPreemption(make_policy(inner)), NO_OVERHEAD)
        assert [(j.first_start, j.finish_time, j.preemptions) for j in alone.jobs] == [
            (j.first_start, j.finish_time, j.preemptions) for j in wrapped.jobs
        ], inner


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(1, 4), st.integers(1, 300), st.integers(0, 2)), min_size=1, max_size=25),
    st.sampled_from(sorted(set(available()) & {"fifo", "fifo-backfill", "las", "tiresias", "gavel", "srtf", "sjf"})),
)
def test_every_job_finishes_once_and_the_top_priority_never_yields(tiny_cluster, rows, inner) -> None:  # noqa: ANN001
    specs = [job(f"j{i}", t, g, d, p) for i, (t, g, d, p) in enumerate(rows)]
    result = simulate(Trace(tuple(specs)), tiny_cluster(), PriorityPreemption(make_policy(inner)), NO_OVERHEAD)
    assert sorted(j.job_id for j in result.jobs) == sorted(s.job_id for s in specs)
    assert all(j.finish_time is not None for j in result.jobs)
    # nothing outranks priority 2, so such a job is never preempted for another priority
    assert all(j.preemptions == 0 for j in result.jobs if j.spec.priority == 2) or inner in {"las", "tiresias", "gavel", "srtf"}
