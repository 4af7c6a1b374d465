"""`QuotaPolicy` in the simulator: exact schedules on hand-made traces, and a quota property."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaon.core.job import JobSpec, Trace
from kaon.policy.base import Decision, Policy, SchedulerView
from kaon.policy.registry import make_policy
from kaon.quota.policy import QuotaPolicy
from kaon.quota.quotas import QuotaBook, TypeQuota
from kaon.sim.engine import SimConfig, simulate

NO_OVERHEAD = SimConfig(restart_overhead_s=0.0)


def job(i: str, t: float, gpus: int, queue: str, dur: float = 100.0, priority: int = 0) -> JobSpec:
    return JobSpec(i, t, dur, gpus, queue=queue, priority=priority)


def run(jobs: list[JobSpec], book: QuotaBook, cluster, inner: str = "fifo"):
    result = simulate(Trace(tuple(jobs)), cluster, QuotaPolicy(make_policy(inner), book), NO_OVERHEAD)
    return {j.job_id: j for j in result.jobs}


def test_borrowed_gpus_are_reclaimed_when_the_lender_needs_them(tiny_cluster) -> None:
    book = QuotaBook({
        "research": {"v100": TypeQuota(4, borrowing_limit=4)},
        "prod": {"v100": TypeQuota(4, borrowing_limit=0)},
    })
    jobs = run([job("r1", 0, 4, "research"), job("r2", 0, 4, "research"), job("p1", 10, 4, "prod", 50)], book, tiny_cluster())
    # research borrowed prod's 4 idle GPUs; prod's job takes them back from the newest-started job
    assert jobs["r1"].first_start == 0 and jobs["r1"].preemptions == 0 and jobs["r1"].finish_time == 100
    assert jobs["r2"].first_start == 0 and jobs["r2"].preemptions == 1
    assert jobs["p1"].first_start == 10 and jobs["p1"].finish_time == 60
    # r2 ran 10 s, then resumes when p1 ends: 90 s left
    assert jobs["r2"].finish_time == 150


def test_nominal_plus_borrowing_is_a_ceiling(tiny_cluster) -> None:
    book = QuotaBook({"research": {"v100": TypeQuota(2, borrowing_limit=2)}, "prod": {"v100": TypeQuota(6)}})
    jobs = run([job(f"r{i}", 0, 2, "research") for i in range(3)], book, tiny_cluster())
    assert [jobs[f"r{i}"].first_start for i in range(3)] == [0, 0, 100]  # 4 idle GPUs stay idle


def test_lending_limit_is_respected(tiny_cluster) -> None:
    book = QuotaBook({"research": {"v100": TypeQuota(2)}, "prod": {"v100": TypeQuota(6, lending_limit=2)}})
    jobs = run([job(f"r{i}", 0, 2, "research") for i in range(4)], book, tiny_cluster())
    # 2 own + 2 lent by prod; prod keeps 4 of its 6 for itself
    assert [jobs[f"r{i}"].first_start for i in range(4)] == [0, 0, 100, 100]


def test_nominal_share_is_honoured_without_preemption_when_free(tiny_cluster) -> None:
    book = QuotaBook({"a": {"v100": TypeQuota(4, borrowing_limit=0)}, "b": {"v100": TypeQuota(4, borrowing_limit=0)}})
    jobs = run(
        [job("a1", 0, 4, "a"), job("a2", 0, 4, "a"), job("b1", 5, 4, "b")], book, tiny_cluster()
    )
    assert jobs["a1"].first_start == 0 and jobs["a2"].first_start == 100  # a cannot borrow
    assert jobs["b1"].first_start == 5 and jobs["b1"].preemptions == 0


def test_priority_orders_a_queue_within_its_quota(tiny_cluster) -> None:
    book = QuotaBook({"a": {"v100": TypeQuota(2, borrowing_limit=0)}})
    jobs = run([job("low", 0, 2, "a"), job("high", 0, 2, "a", priority=5)], book, tiny_cluster())
    assert jobs["high"].first_start == 0 and jobs["low"].first_start == 100


def test_reclaim_takes_only_what_the_lender_needs_newest_first(tiny_cluster) -> None:
    book = QuotaBook({"research": {"v100": TypeQuota(2)}, "prod": {"v100": TypeQuota(6, borrowing_limit=0)}})
    jobs = run(
        [job("r1", 0, 2, "research"), job("r2", 1, 2, "research"), job("r3", 2, 2, "research"),
         job("r4", 3, 2, "research"), job("p1", 10, 2, "prod", 50)],
        book, tiny_cluster(),
    )  # fmt: skip
    # research holds 8 = 2 own + 6 borrowed; prod needs 2: only the newest (r4) goes
    assert [jobs[f"r{i}"].preemptions for i in range(1, 5)] == [0, 0, 0, 1]
    assert jobs["p1"].first_start == 10


def test_unlisted_queue_runs_best_effort_and_is_reclaimed(tiny_cluster) -> None:
    book = QuotaBook({"prod": {"v100": TypeQuota(8)}})
    jobs = run([job("x", 0, 8, "scratch"), job("p", 20, 4, "prod", 10)], book, tiny_cluster())
    assert jobs["x"].first_start == 0 and jobs["x"].preemptions == 1
    assert jobs["p"].first_start == 20


class QuotaChecker(Policy):
    """Asserts after every decision, from the view alone, that no queue exceeds its ceiling."""

    name = "checker"
    summary = "test wrapper"

    def __init__(self, inner: QuotaPolicy, book: QuotaBook) -> None:
        super().__init__(inner.placement)
        self.inner, self.book = inner, book
        self.preemptive = inner.preemptive  # type: ignore[misc]

    def job_arrived(self, job, now):  # noqa: ANN001, ANN201
        self.inner.job_arrived(job, now)

    def job_started(self, job, now):  # noqa: ANN001, ANN201
        self.inner.job_started(job, now)

    def job_preempted(self, job, now):  # noqa: ANN001, ANN201
        self.inner.job_preempted(job, now)

    def job_finished(self, job, now):  # noqa: ANN001, ANN201
        self.inner.job_finished(job, now)

    def decide(self, view: SchedulerView) -> Decision:
        d = self.inner.decide(view)
        gone = {p.job.job_id for p in d.preempts}
        held = [(j.spec.queue, j.placement.gpu_type, j.num_gpus) for j in view.running.values() if j.job_id not in gone]
        held += [(s.job.spec.queue, s.placement.gpu_type, s.job.num_gpus) for s in d.starts]
        bound = self.book.bind(view.cluster)
        usage = np.zeros_like(bound.nominal)
        for q, t, g in held:
            usage[bound.row(q), t] += g
        assert (usage <= bound.ceiling).all(), usage
        assert (bound.pool_draw(usage) <= bound.pool).all(), usage
        return d


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(1, 4), st.sampled_from(["a", "b", "c", "d"]),
                       st.integers(1, 60), st.integers(0, 2)), min_size=1, max_size=30),
    st.sampled_from(["fifo", "fifo-backfill", "las"]),
)  # fmt: skip
def test_no_queue_ever_exceeds_nominal_plus_borrowing(tiny_cluster, specs, inner) -> None:  # noqa: ANN001
    book = QuotaBook({
        "a": {"v100": TypeQuota(3, borrowing_limit=2, lending_limit=1), "k80": TypeQuota(2, borrowing_limit=0)},
        "b": {"v100": TypeQuota(3, borrowing_limit=4), "k80": TypeQuota(4, lending_limit=2)},
        "c": {"v100": TypeQuota(2, borrowing_limit=0)},
    })  # fmt: skip
    jobs = [job(f"j{i}", t, g, q, d, p) for i, (t, g, q, d, p) in enumerate(specs)]
    policy = QuotaChecker(QuotaPolicy(make_policy(inner), book), book)
    result = simulate(Trace(tuple(jobs)), tiny_cluster(2, 4, ("v100", "k80")), policy, NO_OVERHEAD)
    # every job finishes: quotas delay, they never starve a queue with a usable share
    assert all(j.finish_time is not None for j in result.jobs)
