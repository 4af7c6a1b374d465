"""`las`: least attained GPU-service first with a minimum lease."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate


def _run(cluster, jobs, spec: str = "las"):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, make_policy(spec), SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_long_job_yields_to_a_new_one_after_its_lease(tiny_cluster) -> None:
    """`a` runs alone; `b` (no service) waits for `a`'s 360 s lease. At 720 both have 360 GPU-s:
    a tie keeps `b`, which is overtaken one step later (721) and then holds a lease to 1081, when
    `a` (720 GPU-s) is ahead again and `b` (361) resumes to finish its last 139 s."""
    out = _run(tiny_cluster(nodes=1, gpus=1), [JobSpec("a", 0, 1000, 1), JobSpec("b", 100, 500, 1)])
    assert out == {"a": (0, 1500, 2), "b": (360, 1220, 1)}


def test_service_counts_gpus(tiny_cluster) -> None:
    """Both arrive with no service; the gang (earlier in the trace) takes both GPUs. It attains
    2 GPU-s per second, so when its 100 s lease ends it has 200 and yields to `solo` (0), which
    runs to completion within its own lease; the gang then finishes its last 50 s."""
    out = _run(
        tiny_cluster(nodes=1, gpus=2),
        [JobSpec("gang", 0, 150, 2), JobSpec("solo", 0, 100, 1)],
        "las:lease=100",
    )
    assert out == {"gang": (0, 250, 1), "solo": (100, 200, 0)}


def test_lease_must_be_positive() -> None:
    with pytest.raises(PolicyParamError, match="lease"):
        make_policy("las:lease=0")
