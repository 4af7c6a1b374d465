"""`gittins`: Gittins index of attained GPU-service over the size history."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.job import JobSpec, PriorJob, Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.gittins import Gittins, GittinsIndex, gittins_table
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState

BIMODAL = [100.0] * 50 + [10000.0] * 50


def _brute_force(sizes: np.ndarray, a: float) -> float:
    survivors = sizes[sizes > a] - a
    deltas = np.unique(survivors)
    return max(np.mean(survivors <= d) / np.mean(np.minimum(survivors, d)) for d in deltas)


def test_table_matches_the_definition() -> None:
    rng = np.random.default_rng(3)
    sizes = np.round(rng.lognormal(5, 1.5, 200)) + 1
    grid = np.array([0.0, 10.0, 150.0, 1000.0, float(sizes.max()) + 1])
    table = gittins_table(sizes, grid)
    expected = [_brute_force(sizes, a) for a in grid[:-1]] + [0.0]
    assert table == pytest.approx(expected)


def test_bimodal_index() -> None:
    index = GittinsIndex(np.array(BIMODAL))
    # fresh: half finish within 100 GPU-s; past the short mode: only the 10000s are left
    assert index(0.0) == pytest.approx(0.5 / 100)
    assert index(50.0) == pytest.approx(1 / 100, rel=1e-2)  # between grid points: interpolated
    assert index(100.0) == pytest.approx(1 / 9900)
    assert index(20000.0) == 0.0


def _run(cluster, jobs, policy):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_bimodal_history_protects_a_job_that_may_be_short(tiny_cluster) -> None:
    """`a` has 50 GPU-s when `b` arrives: its index (0.01) beats a fresh job's (0.005), unlike
    LAS. At 100 GPU-s it can no longer be short and `b` takes over; `b` in turn keeps the GPU at
    100 GPU-s (equal index to `a`'s) and for good after, as its index only grows."""
    jobs = [JobSpec("a", 0, 1000, 1), JobSpec("b", 50, 1000, 1)]
    out = _run(tiny_cluster(nodes=1, gpus=1), jobs, Gittins(BIMODAL, lease=10))
    assert out == {"a": (0, 2000, 1), "b": (100, 1100, 0)}
    las = _run(tiny_cluster(nodes=1, gpus=1), jobs, make_policy("las:lease=10"))
    assert las["b"][0] == 50


def test_falls_back_to_las_until_enough_history(tiny_cluster) -> None:
    jobs = [JobSpec(f"j{i}", i * 10.0, 5.0 + i, 1) for i in range(5)]
    policy = Gittins(min_history=3, refit_every=1)
    assert policy.index is None
    _run(tiny_cluster(nodes=1, gpus=1), jobs, policy)
    assert policy.index is not None
    assert policy.index(0.0) > 0


def test_parameters() -> None:
    policy = make_policy("gittins:lease=60,refit_every=10,min_history=5")
    assert isinstance(policy, Gittins)
    assert (policy.lease, policy.refit_every, policy.min_history) == (60.0, 10, 5)
    with pytest.raises(PolicyParamError, match="refit_every"):
        make_policy("gittins:refit_every=0")
    with pytest.raises(ValueError, match="prior"):
        Gittins([0.0])


def test_jobs_finished_before_the_run_are_history(tiny_cluster) -> None:
    """A window's recent past fits the index before the first arrival, exactly as a prior sample
    of the same sizes does: the bimodal schedule above without waiting for 30 finishes."""
    prior = [PriorJob(JobSpec(f"p{i}", 0.0, s, 1), -1.0) for i, s in enumerate(BIMODAL)]
    policy = Gittins(lease=10)
    policy.jobs_finished_before(prior)
    assert policy.index is not None and policy.index(0.0) == pytest.approx(0.5 / 100)
    jobs = [JobSpec("a", 0, 1000, 1), JobSpec("b", 50, 1000, 1)]
    assert _run(tiny_cluster(nodes=1, gpus=1), jobs, policy) == {"a": (0, 2000, 1), "b": (100, 1100, 0)}


def test_history_keeps_only_the_latest_sizes() -> None:
    """With `history` 50, the 100 short jobs of the past are forgotten once 50 long ones finish:
    the index becomes the long mode's alone."""
    policy = Gittins([100.0] * 100, history=50, refit_every=50)
    for i in range(50):
        job = JobState(JobSpec(f"l{i}", 0.0, 10000.0, 1), i, np.ones(1))
        policy.job_finished(job, 0.0)
    assert policy.index is not None and policy.index(0.0) == pytest.approx(1 / 10000)
    with pytest.raises(ValueError, match="history"):
        Gittins(history=-1)
