"""pgittins: the log-normal Gittins table against its definition and limits, and known schedules
with fake predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import lognorm

from kaon.core.job import JobSpec, Trace
from kaon.policy.gittins_lognormal import U_MAX, Z90, lognormal_gittins, sigma_of
from kaon.policy.pgittins import PredictedGittins
from kaon.predict.online import Estimate
from kaon.sim.engine import SimConfig, simulate
from tests.policy.test_psrtf import FakeEstimates


def test_sigma_from_the_interval() -> None:
    assert float(sigma_of(100 * math.exp(-Z90), 100 * math.exp(Z90))) == pytest.approx(1.0)
    assert float(sigma_of(100.0, 100.0)) == 0.05  # clipped to the table


def test_narrow_interval_is_srpt_on_the_point() -> None:
    """With sigma at its floor the cost is the remaining time before the point estimate."""
    x = np.array([0.0, 100.0, 400.0, 700.0])
    cost = lognormal_gittins().cost(x, np.full(4, 1000.0), np.full(4, 0.05))
    assert cost == pytest.approx(1000.0 - x, rel=0.01)


def _by_definition(sigma: float, a: float) -> float:
    """1 / sup_D P(S - a <= D | S > a) / E[min(S - a, D) | S > a] by quadrature, S ~ LogNormal(0, sigma)."""
    dist = lognorm(sigma)

    def ratio(d: float) -> float:
        return (dist.sf(a) - dist.sf(a + d)) / quad(lambda t: dist.sf(a + t), 0, d, limit=200)[0]

    return 1 / max(ratio(d) for d in np.geomspace(1e-3, 1e3, 60))


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0])
def test_table_matches_the_definition(sigma: float) -> None:
    attained = np.array([0.0, 0.3, 1.0, 4.0])
    exact = [_by_definition(sigma, a) for a in attained]
    cost = lognormal_gittins().cost(attained, np.ones(4), np.full(4, sigma))
    assert cost == pytest.approx(exact, rel=0.02)


def test_fresh_cost_is_at_most_the_mean_and_falls_with_a_wide_spread() -> None:
    """G(0) >= 1 / E[S] (serve to completion is one choice of D); once the interval is wide, the
    wider it is the more mass sits near zero and the sooner a fresh job is worth a try."""
    table = lognormal_gittins()
    sigmas = np.linspace(0.05, 3.5, 70)
    cost = table.cost(np.zeros(70), np.ones(70), sigmas)
    assert np.all(cost <= np.exp(sigmas**2 / 2) * 1.001)
    assert np.all(np.diff(cost[sigmas >= 1.5]) < 0)


def test_past_its_distribution_a_job_ranks_by_age() -> None:
    x = 100.0 * math.exp(0.05 * (U_MAX + 0.1))
    assert float(lognormal_gittins().cost(np.array([x]), np.array([100.0]), np.array([0.05]))[0]) == pytest.approx(x)


def _run(estimates: dict[str, Estimate], jobs: list[JobSpec], tiny_cluster) -> dict[str, tuple[float, float, int]]:  # noqa: ANN001
    policy = PredictedGittins(lease=10.0, min_remaining=1.0)
    policy.estimator = FakeEstimates(estimates)  # type: ignore[assignment]
    result = simulate(Trace(tuple(jobs)), tiny_cluster(nodes=1, gpus=1), policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_overrun_job_yields_once_its_age_passes_the_newcomer(tiny_cluster) -> None:
    """`a` is predicted 100 s (narrow) but runs 1000 s. `b` (200 s, predicted exactly) arrives at
    50 s and waits while `a` looks nearly done. Once `a` has outlived its distribution
    (100 e^(0.05 x 3) = 116.2 s) it ranks by age, re-checked at each 25 % more; the first check
    past 200 s is 116.2 x 1.25^3 = 226.9 s, where `b` takes the GPU."""
    narrow = 0.05 * Z90
    estimates = {
        "a": Estimate(100.0, 100.0 * math.exp(-narrow), 100.0 * math.exp(narrow)),
        "b": Estimate(200.0, 200.0 * math.exp(-narrow), 200.0 * math.exp(narrow)),
    }
    out = _run(estimates, [JobSpec("a", 0.0, 1000.0, 1), JobSpec("b", 50.0, 200.0, 1)], tiny_cluster)
    switch = 100.0 * math.exp(0.15) * 1.25**3
    assert out["b"] == pytest.approx((switch, switch + 200.0, 0))
    assert out["a"] == pytest.approx((0.0, 1200.0, 1))


def test_a_wide_interval_gets_the_first_chance(tiny_cluster) -> None:
    """Both predicted around 100-150 s: `psrtf` would start `a` (point 100); with `b`'s interval
    spanning 3 sigmas a side, `b` has the better chance of finishing soon and starts first."""
    wide = 3.0 * Z90
    estimates = {
        "a": Estimate(100.0, 100.0 * math.exp(-0.05 * Z90), 100.0 * math.exp(0.05 * Z90)),
        "b": Estimate(150.0, 150.0 * math.exp(-wide), 150.0 * math.exp(wide)),
    }
    out = _run(estimates, [JobSpec("a", 0.0, 100.0, 1), JobSpec("b", 0.0, 10.0, 1)], tiny_cluster)
    assert out == {"b": (0.0, 10.0, 0), "a": (10.0, 110.0, 0)}
