"""Metrics on a hand-made schedule whose every time is known (strict FIFO, one 4-GPU node).

    A: submit 0,   100 s x 4 GPUs -> runs 0..100
    B: submit 10,   50 s x 2 GPUs -> waits, runs 100..150
    C: submit 20,   30 s x 2 GPUs -> waits, runs 100..130
    U: submit 5,     8 GPUs      -> no node type can hold it: unschedulable
    D: submit 200,  10 s x 1 GPU  -> runs 200..210

Jobs in the system (pending + running): 1 on [0,10), 2 on [10,20), 3 on [20,100), 2 on [100,130),
1 on [130,150), 0 on [150,200), 1 on [200,210).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.fifo import Fifo
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.metrics import compute_metrics, job_table, step_integral

JOBS = (
    JobSpec("A", 0.0, 100.0, 4),
    JobSpec("U", 5.0, 10.0, 8),
    JobSpec("B", 10.0, 50.0, 2),
    JobSpec("C", 20.0, 30.0, 2),
    JobSpec("D", 200.0, 10.0, 1),
)


@pytest.fixture
def result(tiny_cluster):  # noqa: ANN001, ANN201
    return simulate(Trace(JOBS), tiny_cluster(1, 4, ("fast",)), Fifo())


def test_job_table(result) -> None:  # noqa: ANN001
    t = job_table(result)
    assert t.job_id == ("A", "U", "B", "C", "D")
    assert t.status == ("finished", "unschedulable", "finished", "finished", "finished")
    np.testing.assert_array_equal(t.first_start, [0, np.nan, 100, 100, 200])
    np.testing.assert_array_equal(t.finish, [100, np.nan, 150, 130, 210])
    np.testing.assert_array_equal(t.jct, [100, np.nan, 140, 110, 10])
    np.testing.assert_array_equal(t.queue, [0, np.nan, 90, 80, 0])
    np.testing.assert_array_equal(t.run, [100, 0, 50, 30, 10])
    np.testing.assert_allclose(t.slowdown, [1, np.nan, 2.8, 110 / 30, 1])


def test_every_metric(result) -> None:  # noqa: ANN001
    m = compute_metrics(result)
    jcts = [100.0, 140.0, 110.0, 10.0]
    assert m.avg_jct_s == pytest.approx(90.0)
    assert m.p50_jct_s == pytest.approx(105.0)  # linear interpolation over 10, 100, 110, 140
    assert m.p95_jct_s == pytest.approx(110 + 0.85 * 30)
    assert m.p99_jct_s == pytest.approx(110 + 0.97 * 30)
    assert m.avg_queue_s == pytest.approx((0 + 90 + 80 + 0) / 4)
    slowdowns = [1.0, 2.8, 110 / 30, 1.0]
    assert m.avg_slowdown == pytest.approx(sum(slowdowns) / 4)
    assert m.p99_slowdown == pytest.approx(np.percentile(slowdowns, 99))
    assert m.makespan_s == pytest.approx(210.0)
    # Busy GPU-seconds: A 4x100 + B 2x50 + C 2x30 + D 1x10 = 570 over 4 GPUs x 210 s.
    assert m.gpu_util == pytest.approx(570 / (4 * 210))
    # rho = JCT / (isolated x N_avg), N_avg = area of jobs-in-system over the lifetime / JCT.
    areas = [1 * 10 + 2 * 10 + 3 * 80, 2 * 10 + 3 * 80 + 2 * 30 + 1 * 20, 3 * 80 + 2 * 30, 1 * 10]
    isolated = [100.0, 50.0, 30.0, 10.0]
    rho = [jct / (iso * area / jct) for jct, iso, area in zip(jcts, isolated, areas)]
    assert m.ftf_rho_mean == pytest.approx(sum(rho) / 4)
    assert m.ftf_rho_max == pytest.approx(110 * 110 / (30 * 300))
    assert m.preemptions == 0
    assert m.jobs == 5
    assert m.unfinished == 1
    assert m.events == result.events
    assert m.sim_wall_s == result.wall_s


def test_horizon_leaves_jobs_unfinished(tiny_cluster) -> None:  # noqa: ANN001
    result = simulate(Trace(JOBS), tiny_cluster(1, 4, ("fast",)), Fifo(), SimConfig(horizon_s=120.0))
    t = job_table(result)
    assert t.status == ("finished", "unschedulable", "unfinished", "unfinished", "unfinished")
    m = compute_metrics(result, t)
    assert m.unfinished == 4
    assert m.avg_jct_s == 100.0
    assert m.makespan_s == 100.0
    assert m.gpu_util == pytest.approx(1.0)
    assert m.ftf_rho_max == pytest.approx(100 / (100 * 2.7))


def test_nothing_finished_gives_nan(tiny_cluster) -> None:  # noqa: ANN001
    result = simulate(Trace(JOBS[1:2]), tiny_cluster(1, 4, ("fast",)), Fifo())
    m = compute_metrics(result)
    assert m.unfinished == 1 and m.jobs == 1
    assert all(math.isnan(v) for v in (m.avg_jct_s, m.p99_jct_s, m.makespan_s, m.gpu_util, m.ftf_rho_max))


def test_step_integral() -> None:
    time = np.array([0.0, 10.0, 30.0])
    values = np.array([1.0, 3.0, 0.0])
    got = step_integral(time, values, np.array([-5.0, 0.0, 5.0, 10.0, 20.0, 30.0, 99.0]))
    np.testing.assert_allclose(got, [0, 0, 5, 10, 40, 70, 70])
    np.testing.assert_array_equal(step_integral(np.array([]), np.array([]), np.array([1.0])), [0.0])
