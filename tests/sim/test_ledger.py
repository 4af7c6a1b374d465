"""`JobLedger`, the bookkeeping the engine and the service share: transitions, capacity and the
progress a job keeps across runs, on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.job import JobSpec
from kaon.core.placement import Placement
from kaon.sim.ledger import JobLedger, TransitionError
from kaon.sim.state import JobState, JobStatus

# Two 4-GPU nodes of a fast type, one of a half-speed type.
CLUSTER = ClusterSpec(
    "c",
    (GpuType("v100"), GpuType("k80", speed=0.5)),
    (NodeSpec("a", "v100", 4), NodeSpec("b", "v100", 4), NodeSpec("c", "k80", 4)),
    "v100",
)


def _job(gpus: int = 2, duration: float = 100.0, index: int = 0, speeds: tuple[float, ...] = (1.0, 0.5)) -> JobState:
    return JobState(JobSpec(f"j{index}", 0.0, duration, gpus), index, np.array(speeds))


def _queued(ledger: JobLedger, job: JobState) -> JobState:
    ledger.enqueue(job)
    return job


def test_start_moves_the_job_and_its_gpus() -> None:
    ledger = JobLedger(CLUSTER)
    job = _queued(ledger, _job(gpus=2))
    ledger.start(job, Placement(1, (2,), (2,)), now=10.0)
    assert job.status is JobStatus.RUNNING and job.job_id in ledger.running and not ledger.pending
    assert ledger.capacity.free_per_type.tolist() == [8, 2] and ledger.capacity.total_free == 10
    assert job.rate == 0.5 and job.first_start == 10.0 and job.starts == 1
    assert job.remaining_at(30.0) == pytest.approx(90.0)  # 20 s at half speed


def test_a_gang_split_over_nodes_runs_at_the_spread_slowdown() -> None:
    ledger = JobLedger(CLUSTER)
    job = _queued(ledger, _job(gpus=4))
    ledger.start(job, Placement(0, (0, 1), (2, 2)), now=0.0)
    assert job.rate == pytest.approx(CLUSTER.spread_slowdown)


def test_preemption_keeps_progress_and_a_restart_pays_the_overhead() -> None:
    ledger = JobLedger(CLUSTER)
    job = _queued(ledger, _job(gpus=2, duration=100.0))
    ledger.start(job, Placement(0, (0,), (2,)), now=0.0, restart_overhead_s=30.0)  # first start: no overhead
    ledger.requeue(job, now=40.0)
    assert job.status is JobStatus.PENDING and job.job_id in ledger.pending and job.preemptions == 1
    assert (job.remaining, job.attained, job.executed) == (60.0, 80.0, 40.0)
    assert ledger.capacity.total_free == 12 and job.queued_since == 40.0
    ledger.start(job, Placement(0, (1,), (2,)), now=50.0, restart_overhead_s=30.0)
    assert job.remaining_at(80.0) == 60.0  # restoring its checkpoint until 80
    assert job.remaining_at(100.0) == 40.0
    assert job.first_start == 0.0 and job.starts == 2


def test_finish_from_a_run_and_from_the_queue() -> None:
    ledger = JobLedger(CLUSTER)
    ran = _queued(ledger, _job(index=0))
    waited = _queued(ledger, _job(index=1))
    ledger.start(ran, Placement(0, (0,), (2,)), now=0.0)
    ledger.finish(ran, now=100.0)
    ledger.finish(waited, now=100.0)  # e.g. cancelled while pending
    assert ran.status is waited.status is JobStatus.FINISHED
    assert (ran.finish_time, waited.finish_time) == (100.0, 100.0)
    assert not ledger.pending and not ledger.running and ledger.capacity.total_free == 12
    with pytest.raises(TransitionError, match="finished twice"):
        ledger.finish(ran, now=101.0)


@pytest.mark.parametrize(
    ("placement", "message"),
    [
        (Placement(0, (0,), (1,)), "has 1 GPUs, job asks 2"),
        (Placement(1, (2,), (2,)), "may not use"),
    ],
)
def test_a_start_that_does_not_fit_the_job_is_refused(placement: Placement, message: str) -> None:
    ledger = JobLedger(CLUSTER)
    job = _queued(ledger, _job(gpus=2, speeds=(1.0, 0.0)))
    with pytest.raises(TransitionError, match=message):
        ledger.start(job, placement, now=0.0)
    assert job.status is JobStatus.PENDING and ledger.capacity.total_free == 12


def test_transitions_from_the_wrong_state_are_refused() -> None:
    ledger = JobLedger(CLUSTER)
    job = _queued(ledger, _job())
    with pytest.raises(TransitionError, match="cannot preempt"):
        ledger.requeue(job, now=0.0)
    with pytest.raises(TransitionError, match="holds no GPUs"):
        ledger.stop_run(job, now=0.0)
    ledger.start(job, Placement(0, (0,), (2,)), now=0.0)
    with pytest.raises(TransitionError, match="cannot start"):
        ledger.start(job, Placement(0, (1,), (2,)), now=1.0)
    assert ledger.capacity.total_free == 10
