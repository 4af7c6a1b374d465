"""`sjf`: shortest duration first, non-preemptive, jobs that do not fit are passed over."""

from __future__ import annotations

from kaon.core.job import JobSpec, Trace
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate


def _run(cluster, jobs):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, make_policy("sjf"), SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_shortest_duration_goes_first(tiny_cluster) -> None:
    out = _run(
        tiny_cluster(nodes=1, gpus=2),
        [
            JobSpec("busy", 0, 100, 2),
            JobSpec("long", 10, 500, 1),
            JobSpec("mid", 10, 50, 1),
            JobSpec("short", 10, 30, 2),
        ],
    )
    assert out == {
        "busy": (0, 100, 0),
        "short": (100, 130, 0),
        "mid": (130, 180, 0),
        "long": (130, 630, 0),
    }


def test_a_job_that_does_not_fit_is_passed_over(tiny_cluster) -> None:
    out = _run(
        tiny_cluster(nodes=1, gpus=2),
        [JobSpec("x", 0, 1000, 1), JobSpec("wide", 1, 10, 2), JobSpec("narrow", 1, 100, 1)],
    )
    assert out == {"x": (0, 1000, 0), "narrow": (1, 101, 0), "wide": (1000, 1010, 0)}


def test_sjf_never_preempts(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=1), [JobSpec("a", 0, 1000, 1), JobSpec("b", 5, 1, 1)])
    assert out == {"a": (0, 1000, 0), "b": (1000, 1001, 0)}
    assert make_policy("sjf").preemptive is False
