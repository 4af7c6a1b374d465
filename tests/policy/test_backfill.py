"""`fifo-backfill`: EASY backfilling against the queue head's reservation."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.backfill import FifoBackfill, RequestEstimator
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState

# `a` holds 2 of 4 GPUs until 1000; the head `h` needs all 4, so it is reserved for 1000.
JOBS = [
    JobSpec("a", 0, 1000, 2),
    JobSpec("h", 10, 500, 4),
    JobSpec("short", 20, 900, 2),
    JobSpec("long", 30, 2000, 2),
]


def _run(cluster, jobs, policy):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_short_job_passes_without_delaying_the_head_long_one_does_not(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=4), JOBS, make_policy("fifo-backfill"))
    assert out == {
        "a": (0, 1000, 0),
        "short": (20, 920, 0),  # ends before the reservation
        "h": (1000, 1500, 0),
        "long": (1500, 3500, 0),  # would have run past 1000 on GPUs the head needs
    }
    fifo = _run(tiny_cluster(nodes=1, gpus=4), JOBS, make_policy("fifo"))
    assert fifo["short"] == (1500, 2400, 0)


def test_extra_gpus_may_be_used_by_a_long_job(tiny_cluster) -> None:
    """On 6 GPUs the head needs 4 of the 6 free at 1000, so 2 are extra. `short` takes the 2 free
    now (it ends before 1000); when it ends, `long` may start on them although it runs past 1000."""
    out = _run(tiny_cluster(nodes=1, gpus=6), [JobSpec("a", 0, 1000, 4), *JOBS[1:]], make_policy("fifo-backfill"))
    assert out == {"a": (0, 1000, 0), "short": (20, 920, 0), "long": (920, 2920, 0), "h": (1000, 1500, 0)}


class Pessimist:
    """An estimator that believes `short` takes 5000 s and knows every other duration."""

    def estimate(self, job: JobState) -> float:
        return 5000.0 if job.job_id == "short" else job.spec.duration


def test_estimator_plugs_in(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=4), JOBS, FifoBackfill(Pessimist()))
    assert out["short"] == (1500, 2400, 0)  # no longer believed to end before the reservation
    assert out["h"] == (1000, 1500, 0)


def test_request_estimates_follow_the_f_model() -> None:
    est = RequestEstimator(3.0)
    jobs = [JobState(JobSpec(f"job-{i}", 0, 100, 1), i, np.ones(1)) for i in range(200)]
    values = [est.estimate(j) for j in jobs]
    assert all(100 <= v <= 300 for v in values)
    assert values == [est.estimate(j) for j in jobs]
    assert max(values) - min(values) > 100
    policy = make_policy("fifo-backfill:estimate=request,request_factor=3")
    assert isinstance(policy, FifoBackfill) and isinstance(policy.estimator, RequestEstimator)


def test_bad_parameters() -> None:
    with pytest.raises(PolicyParamError, match="estimate"):
        make_policy("fifo-backfill:estimate=guess")
    with pytest.raises(PolicyParamError, match="request_factor"):
        make_policy("fifo-backfill:estimate=request,request_factor=0.5")


def test_a_long_job_waits_for_a_faster_type_and_a_short_one_backfills_the_slow_one(tiny_cluster) -> None:
    """One fast and one slow (half speed) GPU. `b` (1000 s) could take the slow GPU at 10 and end at
    2010, or wait for the fast one at 100 and end at 1100: it waits, reserved there, and `c` (10 s)
    backfills the slow GPU. Greedy placement (strict FIFO, and fifo-backfill before it compared
    finish times) sends `b` to the slow GPU: on Philly's heavy tail that made fifo-backfill's mean
    JCT worse than fifo's."""
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast", "slow"))
    jobs = [JobSpec("a", 0, 100, 1), JobSpec("b", 10, 1000, 1), JobSpec("c", 20, 10, 1)]
    out = _run(cluster, jobs, make_policy("fifo-backfill"))
    assert out == {"a": (0, 100, 0), "b": (100, 1100, 0), "c": (20, 40, 0)}
    fifo = _run(cluster, jobs, make_policy("fifo"))
    assert fifo == {"a": (0, 100, 0), "b": (10, 2010, 0), "c": (100, 110, 0)}
