"""Gavel's max-min fairness linear program (Narayanan et al., OSDI'20, section 4.1).

The allocation `X[j, t]` is the fraction of wall time job `j` should spend on GPU type `t`. Job `j`
then progresses at `sum_t X[j, t] * thr[j, t]` (its *effective throughput*), and Gavel maximises
the smallest effective throughput after normalising each job by what it would get from an equal
share of the cluster and by its weight:

    maximise  min_j  scale_j * sum_t X[j, t] * thr[j, t] / (w_j * ref_j)
    s.t.      sum_t X[j, t] <= 1                 (a job runs on one type at a time)
              sum_j scale_j * X[j, t] <= gpus_t  (no type is oversubscribed on average)
              X >= 0,  X[j, t] = 0 where thr[j, t] = 0

`scale_j` is the job's GPU count and `ref_j = sum_t thr[j, t] * gpus_t / G` its throughput on an
equal, type-proportional share of the cluster. Multiplying by `scale_j` is Gavel's own rule: with
equal throughputs the optimum gives every job the same number of GPU-seconds, so a 4-GPU job gets
a quarter of the wall time of a 1-GPU job. Gavel's heterogeneity-agnostic variant
("max_min_fairness") is the same program with every throughput set to 1 on the types a job may
use; `agnostic_throughputs` builds that input.

Two deliberate differences from Gavel's code, both because Gavel solved with cvxpy/ECOS and kaon
solves with HiGHS:

- Gavel derives `ref_j` from a first, agnostic LP solve. That LP is degenerate (any split across
  types is optimal), so ECOS's interior point and HiGHS's simplex would give different references.
  kaon uses the closed-form equal share above: one solve instead of two, and well defined. It also
  counts `scale_j` once: Gavel's solved reference already shrinks as 1/scale_j, so its aware
  policy, unlike its agnostic one, gives a k-GPU job only 1/k of the GPU-seconds of a 1-GPU job.
- A max-min LP only pins down the smallest job; everything else is free on the optimal face and a
  simplex solver returns an arbitrary vertex of it, often leaving capacity unassigned. kaon adds
  `tiebreak` times the mean normalised throughput to the objective, which picks the efficient
  point of the face; the max-min value it gives up is at most `tiebreak` times the largest
  normalised throughput. With unequal weights that mean favours the *low*-weight jobs (their
  normalised throughput is divided by their weight), so what the minimum leaves free goes to them;
  `tiebreak_weighted` makes the tie-break the weight-weighted mean of the unweighted normalised
  throughputs instead, so it goes to the heavy jobs (`gavel-sized` needs this: with it, true-size
  weights cut average JCT by up to 30%; with Gavel's tie-break, they raised it up to 2x).

The constraint matrix is assembled in one shot with `scipy.sparse` from index arrays of the
allowed (job, type) pairs; there is no per-element Python loop.

With a single (pooled) type the program has a closed-form optimum, water-filling
(`pooled_max_min_allocation`): every job gets `min(1, z * w_j / scale_j)` of the time, with the
level `z` as high as the GPUs allow. It reaches the LP's max-min value, and of all allocations
that do it is the lexicographically fairest: where some job has all of its time below the others'
level (so it alone pins the minimum), the LP leaves the others free and its solver picks a vertex,
while water-filling raises them all together by weight. It costs a sort instead of a solver call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog


class AllocationError(RuntimeError):
    """HiGHS did not return an optimal allocation: the problem is built wrongly (a kaon bug)."""


@dataclass(frozen=True, slots=True)
class MaxMinAllocation:
    """The solved allocation. `x[j, t]` is job j's time fraction on type t; `value` is the max-min
    normalised throughput (the LP's `z`); `solve_s` is the wall time of the solver call, for
    reporting."""

    x: np.ndarray
    value: float
    solve_s: float


def agnostic_throughputs(thr: np.ndarray) -> np.ndarray:
    """Gavel's heterogeneity-agnostic input: throughput 1 on every type a job may use."""
    return (thr > 0).astype(np.float64)


def normalised_coefficients(
    thr: np.ndarray, scale: np.ndarray, weights: np.ndarray, capacity: np.ndarray
) -> np.ndarray:
    """`scale_j * thr[j, t] / (w_j * ref_j)`: the objective weight of each allocation entry, where
    `ref_j` is the job's throughput on an equal, type-proportional share of the cluster. Rows with
    no usable type are all zero."""
    share = capacity / capacity.sum()
    ref = thr @ share
    usable = ref > 0
    coef = np.zeros_like(thr, dtype=np.float64)
    coef[usable] = thr[usable] * (scale[usable] / (weights[usable] * ref[usable]))[:, None]
    return coef


def max_min_allocation(
    thr: np.ndarray,
    scale: np.ndarray,
    capacity: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    tiebreak: float = 1e-4,
    tiebreak_weighted: bool = False,
) -> MaxMinAllocation:
    """Solve Gavel's max-min fairness LP.

    `thr` is (n_jobs, n_types), the job's speed on each type (0 where it may not run); `scale` the
    GPUs each job asks for; `capacity` the GPUs of each type; `weights` the jobs' shares (1 each by
    default). An entry is usable only when the job may run there and the type has enough GPUs for
    its gang; a job with no usable entry gets an all-zero row and is left out of the minimum.

    Jobs with the same throughput row, GPU count and weight are interchangeable, so the LP is
    solved over these classes (one allocation row per class, its capacity use multiplied by the
    class size) and every job gets its class's row. This is exact: averaging any optimal
    allocation over the jobs of a class keeps it feasible, keeps the minimum at least as high and
    the tie-break sum unchanged. A Philly replay has a handful of classes however many jobs are
    active, which keeps a solve at a few milliseconds.
    """
    thr = np.asarray(thr, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    capacity = np.asarray(capacity, dtype=np.float64)
    n, k = thr.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if scale.shape != (n,) or capacity.shape != (k,) or w.shape != (n,):
        raise ValueError(f"shapes disagree: thr {thr.shape}, scale {scale.shape}, capacity {capacity.shape}")
    if np.any(scale <= 0) or np.any(w <= 0):
        raise ValueError("GPU counts and weights must be > 0")
    usable = (thr > 0) & (scale[:, None] <= capacity[None, :])
    thr = np.where(usable, thr, 0.0)
    if n == 0:
        return MaxMinAllocation(np.zeros((0, k)), 0.0, 0.0)
    keys, inverse, counts = _unique_rows(np.column_stack([thr, scale, w]))
    y, value, solve_s = _solve_classes(
        keys[:, :k], keys[:, k], keys[:, k + 1], counts, capacity, tiebreak, tiebreak_weighted
    )
    return MaxMinAllocation(y[inverse], value, solve_s)


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`np.unique(a, axis=0, return_inverse=True, return_counts=True)`: the distinct rows in
    lexicographic order, each row's class and each class's size. A lexsort over the columns does
    it several times faster than `np.unique`'s sort of whole rows as one structured value, which
    dominated a solve over thousands of jobs."""
    order = np.lexsort(a.T[::-1])
    ordered = a[order]
    new = np.empty(len(a), dtype=bool)
    new[:1] = True
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    cls = np.cumsum(new) - 1
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = cls
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(a)))
    return ordered[starts], inverse, counts


def pooled_max_min_allocation(
    scale: np.ndarray, total: float, weights: np.ndarray | None = None
) -> MaxMinAllocation:
    """An optimum of the max-min LP over one pool of `total` GPUs, by water-filling.

    Job j gets time fraction `x_j = min(1, z * w_j / scale_j)`, i.e. `z * w_j` GPUs until it has
    all of its own; `z` is the largest level with `sum_j scale_j * x_j <= total`. Jobs whose gang
    is larger than the pool get 0 and are left out of the minimum, as in `max_min_allocation`.
    """
    t0 = time.perf_counter()
    scale = np.asarray(scale, dtype=np.float64)
    n = scale.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"shapes disagree: scale {scale.shape}, weights {w.shape}")
    if np.any(scale <= 0) or np.any(w <= 0):
        raise ValueError("GPU counts and weights must be > 0")
    x = np.zeros(n)
    fits = scale <= total
    if not fits.any():
        return MaxMinAllocation(x[:, None], 0.0, time.perf_counter() - t0)
    s, wf = scale[fits], w[fits]
    if s.sum() <= total:
        x[fits] = 1.0
        return MaxMinAllocation(x[:, None], float((s / wf).min()), time.perf_counter() - t0)
    # Job j is capped (x_j = 1) once z reaches scale_j / w_j. With the jobs sorted by that level,
    # capping the first k of them leaves level (total - their GPUs) / (weight of the rest); the
    # first k whose level does not pass the k-th cap is the solution.
    cap = s / wf
    order = np.argsort(cap, kind="stable")
    used = np.concatenate([[0.0], np.cumsum(s[order])])[:-1]
    rest = wf.sum() - np.concatenate([[0.0], np.cumsum(wf[order])])[:-1]
    level = (total - used) / rest
    k = int(np.argmax(level <= cap[order]))
    z = float(level[k])
    x[fits] = np.minimum(1.0, z * wf / s)
    # The LP's value is the smallest normalised share, which a capped job may pin below `z`.
    return MaxMinAllocation(x[:, None], float((s * x[fits] / wf).min()), time.perf_counter() - t0)


def _solve_classes(
    thr: np.ndarray,
    scale: np.ndarray,
    weights: np.ndarray,
    counts: np.ndarray,
    capacity: np.ndarray,
    tiebreak: float,
    tiebreak_weighted: bool,
) -> tuple[np.ndarray, float, float]:
    """The LP over job classes: per-class allocation rows, the max-min value, the solve time."""
    n, k = thr.shape
    coef = normalised_coefficients(thr, scale, weights, capacity)
    y = np.zeros((n, k))
    jj, tt = np.nonzero(thr > 0)
    m = jj.size
    if m == 0:
        return y, 0.0, 0.0
    # Only classes with a usable entry enter the minimum; `row` renumbers them 0..r-1.
    counted = (thr > 0).any(axis=1)
    row = np.cumsum(counted) - 1
    r = int(counted.sum())
    c = coef[jj, tt]
    # Variables: the m usable entries, then z. Rows: r fairness rows (z - rho_c <= 0), r per-job
    # time rows, k per-type capacity rows (each class counts once per job in it).
    data = np.concatenate([-c, np.ones(r), np.ones(m), counts[jj] * scale[jj]])
    rows = np.concatenate([row[jj], np.arange(r), r + row[jj], 2 * r + tt])
    cols = np.concatenate([np.arange(m), np.full(r, m), np.arange(m), np.arange(m)])
    a_ub = sp.csr_array((data, (rows, cols)), shape=(2 * r + k, m + 1))
    b_ub = np.concatenate([np.zeros(r), np.ones(r), capacity])
    # The tie-break is the mean normalised throughput over jobs, so a class weighs its size;
    # weighted, each job's unweighted normalised throughput (c * w) counts w times, scaled by the
    # largest weight so the tie-break stays as small next to the minimum as unweighted.
    tb = c * weights[jj] ** 2 / weights[jj].max() if tiebreak_weighted else c
    objective = np.concatenate([-(tiebreak / counts[counted].sum()) * counts[jj] * tb, [-1.0]])
    bounds = np.zeros((m + 1, 2))
    bounds[:m, 1] = 1.0
    bounds[m, 1] = np.inf
    t0 = time.perf_counter()
    res = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0:
        # Dual simplex can stall on weights spanning orders of magnitude (HiGHS reports an
        # "Unknown" model status with a feasible point); the interior-point method solves them.
        res = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ipm")
    solve_s = time.perf_counter() - t0
    if res.status != 0:
        raise AllocationError(f"max-min LP over {n} job classes x {k} types failed: {res.message}")
    y[jj, tt] = np.clip(res.x[:m], 0.0, 1.0)
    return y, float(res.x[m]), solve_s
