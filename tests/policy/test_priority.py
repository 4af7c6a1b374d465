"""The shared priority walk: who keeps GPUs, who is preempted, and the pending queue it walks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from kaon.core.job import JobSpec, Trace
from kaon.core.placement import PlacementStrategy
from kaon.policy.priority import PendingQueue, PriorityPolicy
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState


class ByPriority(PriorityPolicy):
    """Higher `JobSpec.priority` first: a static ranking that isolates the walk itself."""

    name = "test-by-priority"
    summary = "static priority"

    def __init__(self, *, placement: PlacementStrategy = PlacementStrategy.PACKING, lease: float = 0.0) -> None:
        super().__init__(placement, lease=lease)

    def pending_key(self, job: JobState) -> float:
        return -job.spec.priority

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        return [-j.spec.priority for j in jobs]


def _run(cluster, jobs, lease: float = 0.0):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, ByPriority(lease=lease), SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_lowest_priority_running_job_is_the_victim(tiny_cluster) -> None:
    out = _run(
        tiny_cluster(nodes=1, gpus=4),
        [
            JobSpec("low", 0, 1000, 2, priority=0),
            JobSpec("mid", 0, 1000, 2, priority=1),
            JobSpec("high", 100, 100, 2, priority=5),
        ],
    )
    assert out == {"low": (0, 1100, 1), "mid": (0, 1000, 0), "high": (100, 200, 0)}


def test_equal_rank_never_preempts(tiny_cluster) -> None:
    jobs = [JobSpec("a", 0, 500, 1, priority=1), JobSpec("b", 10, 50, 1, priority=1)]
    out = _run(tiny_cluster(nodes=1, gpus=1), jobs)
    assert out == {"a": (0, 500, 0), "b": (500, 550, 0)}


def test_no_preemption_for_a_job_that_cannot_get_its_gpus(tiny_cluster) -> None:
    """`big` outranks `low` but even `low`'s GPUs plus the free ones are too few: `low` keeps
    running, and the free GPUs go to `small`, which fits (the walk backfills)."""
    out = _run(
        tiny_cluster(nodes=2, gpus=4),
        [
            JobSpec("top", 0, 1000, 4, priority=9),
            JobSpec("low", 0, 1000, 2, priority=0),
            JobSpec("big", 10, 100, 8, priority=5),
            JobSpec("small", 20, 100, 2, priority=1),
        ],
    )
    assert out["low"] == (0, 1000, 0)
    assert out["small"] == (20, 120, 0)
    assert out["big"] == (1000, 1100, 0)


def test_lease_defers_preemption_until_it_expires(tiny_cluster) -> None:
    out = _run(
        tiny_cluster(nodes=1, gpus=4),
        [JobSpec("low", 0, 1000, 4, priority=0), JobSpec("high", 100, 100, 4, priority=5)],
        lease=300,
    )
    assert out == {"low": (0, 1100, 1), "high": (300, 400, 0)}


def test_restart_overhead_is_charged_on_resume(tiny_cluster) -> None:
    trace = Trace((JobSpec("low", 0, 1000, 1, priority=0), JobSpec("high", 100, 100, 1, priority=5)))
    result = simulate(trace, tiny_cluster(nodes=1, gpus=1), ByPriority(), SimConfig(restart_overhead_s=30))
    low = next(j for j in result.jobs if j.job_id == "low")
    assert low.finish_time == pytest.approx(200 + 30 + 900)


def test_lease_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="lease"):
        ByPriority(lease=-1)


def _job(i: int, gpus: int) -> JobState:
    return JobState(JobSpec(f"j{i}", 0, 10, gpus), i, np.ones(1))


def test_pending_queue_walk_skips_buckets_that_no_longer_fit() -> None:
    q = PendingQueue()
    jobs = [_job(0, 8), _job(1, 1), _job(2, 2), _job(3, 1)]
    for key, job in zip([0.0, 1.0, 2.0, 3.0], jobs):
        q.add(job, key)
    room = [8]
    seen = []
    for _, _, job in q.walk(lambda: room[0]):
        seen.append(job.job_id)
        room[0] = 1  # after the first job only 1-GPU jobs can still fit
    assert seen == ["j0", "j1", "j3"]
    assert [e[2].job_id for e in q.ordered()] == ["j0", "j1", "j2", "j3"]
    assert q.ceiling(1.5) == 2.0 and q.ceiling(9.0) is None and q.first_key() == 0.0


def test_pending_queue_rekey_rebuild_and_remove() -> None:
    q = PendingQueue()
    jobs = [_job(i, 1 + i % 2) for i in range(4)]
    for job in jobs:
        q.add(job, float(job.index))
    q.rekey(jobs[0], 10.0)
    assert [e[2].index for e in q.ordered()] == [1, 2, 3, 0]
    q.rebuild(lambda j: -float(j.index))
    assert [e[2].index for e in q.ordered()] == [3, 2, 1, 0]
    q.remove(jobs[2])
    assert len(q) == 3 and jobs[2] not in q
    assert [e[2].index for e in q.walk(lambda: 8)] == [3, 1, 0]
    with pytest.raises(ValueError, match="already queued"):
        q.add(jobs[1], 0.0)
