"""`tiresias`: 2D-LAS queues by attained GPU-time, demotion at thresholds, starvation promotion."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy
from kaon.policy.tiresias import Tiresias
from kaon.sim.engine import SimConfig, simulate


def _run(cluster, jobs, spec: str):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, make_policy(spec), SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_demotion_at_the_gpu_time_threshold(tiny_cluster) -> None:
    """The 2-GPU gang `a` reaches 1000 GPU-s at 500 s and drops to queue 1, behind the waiting
    queue-0 jobs `b` and `c`, which take its GPUs. When `b` is demoted at 1500 it joins the back
    of queue 1, behind `a`, which resumes on both GPUs; `b` waits for it to finish."""
    out = _run(
        tiny_cluster(nodes=1, gpus=2),
        [JobSpec("a", 0, 5000, 2), JobSpec("b", 100, 3000, 1), JobSpec("c", 200, 100, 1)],
        "tiresias:thresholds=1000",
    )
    assert out == {"a": (0, 6000, 1), "b": (500, 8000, 1), "c": (500, 600, 0)}


STARVING = [JobSpec("a", 0, 1000, 1), JobSpec("b", 150, 250, 1)]


def test_without_promotion_the_demoted_job_waits(tiny_cluster) -> None:
    """`a` passed 100 GPU-s at 100 and is in queue 1 when `b` arrives: `b` preempts it, is itself
    demoted at 250 behind `a` (which entered queue 1 at 100) and waits for `a` to finish."""
    out = _run(tiny_cluster(nodes=1, gpus=1), STARVING, "tiresias:thresholds=100")
    assert out == {"a": (0, 1100, 1), "b": (150, 1250, 1)}


def test_starvation_promotion(tiny_cluster) -> None:
    """With starve=1, `b` (100 s run since entering queue 0) is promoted after waiting 100 s: at
    350 it preempts `a`, is demoted again at 450 (another 100 GPU-s), promoted at 550 and
    finishes its last 50 s at 600; `a` resumes each time `b` is demoted."""
    out = _run(tiny_cluster(nodes=1, gpus=1), STARVING, "tiresias:thresholds=100,starve=1")
    assert out == {"a": (0, 1250, 3), "b": (150, 600, 2)}


def test_three_queues_from_the_command_line() -> None:
    policy = make_policy("tiresias:queues=3,thresholds=3600;36000")
    assert isinstance(policy, Tiresias)
    assert policy.queues == 3 and policy.thresholds == (3600.0, 36000.0)


def test_defaults_follow_the_authors_simulator() -> None:
    policy = Tiresias()
    assert policy.queues == 2 and policy.thresholds == (3250.0,) and policy.starve == 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tiresias:queues=3,thresholds=3600", "queues-1 = 2"),
        ("tiresias:queues=3,thresholds=36000;3600", "strictly increasing"),
        ("tiresias:queues=0,thresholds=", "queues must be >= 1"),
        ("tiresias:starve=-1", "starve"),
        ("tiresias:thresholds=abc", "cannot read 'abc'"),
    ],
)
def test_bad_parameters_are_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(PolicyParamError, match=message):
        make_policy(spec)
