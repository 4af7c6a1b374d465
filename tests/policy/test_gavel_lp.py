"""Gavel's max-min LP on hand-solved instances, and its constraints and optimality on random ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from kaon.policy.gavel_lp import (
    agnostic_throughputs,
    max_min_allocation,
    normalised_coefficients,
    pooled_max_min_allocation,
)

# Two 1-GPU jobs, one GPU of each type ("fast", "slow"). Job 0 runs at a fifth of its speed on the
# slow type; job 1 does not care which type it gets.
GAINS = np.array([[1.0, 0.2], [1.0, 1.0]])
ONE_EACH = np.array([1, 1])
SINGLE = np.array([1, 1])


def test_aware_gives_the_fast_type_to_the_job_that_gains_most() -> None:
    a = max_min_allocation(GAINS, SINGLE, ONE_EACH)
    np.testing.assert_allclose(a.x, [[1.0, 0.0], [0.0, 1.0]], atol=1e-9)
    # Job 1's normalised throughput cannot exceed 1 (its speed equals its equal-share speed).
    assert a.value == pytest.approx(1.0)
    swapped = max_min_allocation(GAINS[::-1], SINGLE, ONE_EACH)
    np.testing.assert_allclose(swapped.x, [[0.0, 1.0], [1.0, 0.0]], atol=1e-9)


def test_agnostic_ignores_speeds_so_it_cannot_favour_the_job_that_gains() -> None:
    a = max_min_allocation(agnostic_throughputs(GAINS), SINGLE, ONE_EACH)
    b = max_min_allocation(agnostic_throughputs(GAINS[::-1]), SINGLE, ONE_EACH)
    # The same allocation whichever job is the one that gains: in one of the two it gives the
    # fast type to the job that does not care.
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_allclose(a.x.sum(axis=1), [1.0, 1.0])
    assert a.value == pytest.approx(1.0)


def test_agnostic_shares_time_equally() -> None:
    thr = np.ones((3, 2))
    a = max_min_allocation(thr, np.ones(3), ONE_EACH)
    np.testing.assert_allclose(a.x.sum(axis=1), [2 / 3] * 3, atol=1e-9)
    assert a.value == pytest.approx(2 / 3)


def test_equal_gpu_seconds_for_gangs() -> None:
    # One type of 2 GPUs; two 1-GPU jobs and a 2-GPU job each get 2/3 of a GPU on average.
    a = max_min_allocation(np.ones((3, 1)), np.array([1, 1, 2]), np.array([2]))
    np.testing.assert_allclose(a.x[:, 0], [2 / 3, 2 / 3, 1 / 3], atol=1e-9)


def test_weights_buy_proportional_shares() -> None:
    a = max_min_allocation(np.ones((2, 1)), np.ones(2), np.array([1]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(a.x[:, 0], [1 / 3, 2 / 3], atol=1e-9)


def test_unusable_entries_stay_zero_and_do_not_pin_the_minimum() -> None:
    # Job 1 may not use type 1; job 2 asks 4 GPUs, more than either type has: an all-zero row.
    thr = np.array([[1.0, 0.5], [1.0, 0.0], [1.0, 1.0]])
    a = max_min_allocation(thr, np.array([1, 1, 4]), np.array([2, 2]))
    assert a.x[1, 1] == 0.0
    np.testing.assert_array_equal(a.x[2], [0.0, 0.0])
    assert a.value > 0


def test_normalised_coefficients_match_gavel_agnostic_for_unrestricted_jobs() -> None:
    # Gavel's agnostic objective weight is scale / weight when every throughput is 1.
    coef = normalised_coefficients(np.ones((2, 3)), np.array([1.0, 4.0]), np.array([1.0, 2.0]), np.array([4, 4, 8]))
    np.testing.assert_allclose(coef, [[1.0] * 3, [2.0] * 3])


def test_shape_mismatch_is_reported() -> None:
    with pytest.raises(ValueError, match="shapes"):
        max_min_allocation(np.ones((2, 2)), np.ones(3), ONE_EACH)


def _reference_value(thr: np.ndarray, scale: np.ndarray, capacity: np.ndarray) -> float:
    """The max-min value from a plain dense LP, one variable per (job, type), no classes."""
    n, k = thr.shape
    usable = (thr > 0) & (scale[:, None] <= capacity[None, :])
    thr = np.where(usable, thr, 0.0)
    coef = normalised_coefficients(thr, scale.astype(float), np.ones(n), capacity.astype(float))
    rows = [i for i in range(n) if usable[i].any()]
    if not rows:
        return 0.0
    a_ub, b_ub = [], []
    for i in rows:
        r = np.zeros(n * k + 1)
        r[i * k : (i + 1) * k] = -coef[i]
        r[-1] = 1.0
        a_ub.append(r)
        b_ub.append(0.0)
        r = np.zeros(n * k + 1)
        r[i * k : (i + 1) * k] = 1.0
        a_ub.append(r)
        b_ub.append(1.0)
    for t in range(k):
        r = np.zeros(n * k + 1)
        r[t : n * k : k] = scale
        a_ub.append(r)
        b_ub.append(capacity[t])
    bounds = [(0.0, 1.0 if usable.flat[p] else 0.0) for p in range(n * k)] + [(0.0, None)]
    obj = np.zeros(n * k + 1)
    obj[-1] = -1.0
    return float(-linprog(obj, A_ub=np.array(a_ub), b_ub=b_ub, bounds=bounds, method="highs").fun)


instances = st.integers(1, 3).flatmap(
    lambda k: st.integers(1, 7).flatmap(
        lambda n: st.tuples(
            st.lists(st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.0, 1.5]), min_size=k, max_size=k), min_size=n, max_size=n),
            st.lists(st.sampled_from([1, 2, 4, 8]), min_size=n, max_size=n),
            st.lists(st.integers(1, 8), min_size=k, max_size=k),
        )
    )
)


@settings(max_examples=50, deadline=None)
@given(instances)
def test_constraints_hold_and_the_minimum_is_optimal(instance: tuple[list, list, list]) -> None:
    thr, scale, capacity = (np.array(v, dtype=float) for v in instance)
    a = max_min_allocation(thr, scale, capacity)
    x = a.x
    assert np.all(x >= 0)
    assert np.all(x.sum(axis=1) <= 1 + 1e-7), "a job gets more than all of its time"
    assert np.all((x * scale[:, None]).sum(axis=0) <= capacity + 1e-6), "a type is oversubscribed"
    assert np.all(x[(thr == 0) | (scale[:, None] > capacity[None, :])] == 0), "time on a type the job cannot use"
    exact = max_min_allocation(thr, scale, capacity, tiebreak=0.0)
    assert exact.value == pytest.approx(_reference_value(thr, scale, capacity), rel=1e-6, abs=1e-9)
    # The tie-break trades at most `tiebreak` times the largest normalised throughput.
    usable = np.where((thr > 0) & (scale[:, None] <= capacity[None, :]), thr, 0.0)
    coef = normalised_coefficients(usable, scale, np.ones(len(scale)), capacity)
    assert a.value >= exact.value - 1e-4 * (coef * x).sum(axis=1).max() - 1e-7


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([1, 2, 4, 8]), st.sampled_from([1.0, 2.0, 0.5])), min_size=1, max_size=8),
    st.integers(1, 16),
)
def test_pooled_water_filling_is_an_optimum_of_the_one_type_lp(jobs: list[tuple[int, float]], total: int) -> None:
    scale = np.array([g for g, _ in jobs], dtype=float)
    weights = np.array([w for _, w in jobs])
    pooled = pooled_max_min_allocation(scale, total, weights)
    x = pooled.x[:, 0]
    assert np.all((x >= 0) & (x <= 1)) and (x * scale).sum() <= total + 1e-9
    assert np.all(x[scale > total] == 0)
    lp = max_min_allocation(np.ones((len(jobs), 1)), scale, np.array([total]), weights, tiebreak=0.0)
    assert pooled.value == pytest.approx(lp.value, rel=1e-9)
    if np.all(x < 1) or np.all(x == 1):  # nothing pins the minimum alone: the optimum is unique
        np.testing.assert_allclose(x, lp.x[:, 0], atol=1e-9)


def test_pooled_water_filling_caps_small_gangs() -> None:
    # 6 GPUs: the 1-GPU job has all of its time (1 GPU), the two 4-GPU jobs split the other 5.
    a = pooled_max_min_allocation(np.array([1.0, 4.0, 4.0]), 6)
    np.testing.assert_allclose(a.x[:, 0], [1.0, 5 / 8, 5 / 8])
    assert a.value == pytest.approx(1.0)
    assert pooled_max_min_allocation(np.array([8.0, 2.0]), 4).x[:, 0].tolist() == [0.0, 1.0]


def test_the_weighted_tie_break_gives_what_the_minimum_leaves_to_the_heavier_job() -> None:
    # One type, 2 GPUs, weights 8, 2, 1: the heaviest job pins the minimum at 1/8 with all of its
    # time, the others need 1/4 and 1/8, and 0.625 of a GPU is left. Gavel's tie-break counts
    # normalised throughput over weight, so the lightest job gets it; the weighted one gives it to
    # the heavier of the two.
    thr, scale, cap, w = np.ones((3, 1)), np.ones(3), np.array([2.0]), np.array([8.0, 2.0, 1.0])
    plain = max_min_allocation(thr, scale, cap, w)
    weighted = max_min_allocation(thr, scale, cap, w, tiebreak_weighted=True)
    assert plain.value == pytest.approx(1 / 8) and weighted.value == pytest.approx(1 / 8)
    np.testing.assert_allclose(plain.x[:, 0], [1.0, 0.25, 0.75], atol=1e-9)
    np.testing.assert_allclose(weighted.x[:, 0], [1.0, 0.875, 0.125], atol=1e-9)
    # Equal weights: the two tie-breaks are the same objective.
    np.testing.assert_allclose(
        max_min_allocation(GAINS, SINGLE, ONE_EACH, tiebreak_weighted=True).x, max_min_allocation(GAINS, SINGLE, ONE_EACH).x
    )


def test_falls_back_to_interior_point_when_simplex_stalls():
    """A captured LP on which HiGHS' simplex ends with an "Unknown" status is still solved."""
    case = json.loads((Path(__file__).parent / "lp_stalls_simplex.json").read_text())
    counts = np.array(case["counts"])
    thr = np.repeat(np.array(case["thr"]), counts, axis=0)
    scale = np.repeat(np.array(case["scale"]), counts)
    weights = np.repeat(np.array(case["weights"]), counts)
    capacity = np.array(case["capacity"])
    result = max_min_allocation(thr, scale, capacity, weights, tiebreak_weighted=True)
    assert result.x.shape == thr.shape
    assert np.all(result.x.sum(axis=1) <= 1 + 1e-6)
    assert np.all((result.x * scale[:, None]).sum(axis=0) <= capacity + 1e-6)
    assert result.value > 0
