"""`srtf`: preemptive shortest remaining GPU-time (or time) first, with a short lease."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate


def _run(cluster, jobs, spec: str = "srtf"):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, make_policy(spec), SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_short_arrival_preempts_after_the_lease(tiny_cluster) -> None:
    """`b` arrives at 10 with less work left than `a`; `a`'s 60 s lease holds it off until 60."""
    out = _run(tiny_cluster(nodes=1, gpus=1), [JobSpec("a", 0, 1000, 1), JobSpec("b", 10, 100, 1)])
    assert out == {"a": (0, 1100, 1), "b": (60, 160, 0)}


def test_lease_zero_preempts_at_arrival(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=1), [JobSpec("a", 0, 1000, 1), JobSpec("b", 10, 100, 1)], "srtf:lease=0")
    assert out == {"a": (0, 1100, 1), "b": (10, 110, 0)}


def test_gpu_time_and_time_rank_a_gang_differently(tiny_cluster) -> None:
    """At 100 the 2-GPU gang `a` has 200 s (400 GPU-s) left and `b` needs 300 s on 1 GPU:
    by GPU-time `b` goes first, by time `a` does."""
    jobs = [JobSpec("a", 0, 300, 2), JobSpec("b", 100, 300, 1)]
    cluster = tiny_cluster(nodes=1, gpus=2)
    assert _run(cluster, jobs, "srtf:by=gpu_time") == {"a": (0, 600, 1), "b": (100, 400, 0)}
    assert _run(cluster, jobs, "srtf:by=time") == {"a": (0, 300, 0), "b": (300, 600, 0)}


def test_bad_rank_is_a_clear_error() -> None:
    with pytest.raises(PolicyParamError, match="by"):
        make_policy("srtf:by=size")
