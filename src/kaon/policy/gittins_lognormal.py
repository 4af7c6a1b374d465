"""The Gittins index of a job whose duration is log-normal, as the predictor's interval describes it.

`gittins` learns one size distribution for all jobs. With a runtime predictor each job has its
own: the point estimate is its median and the [p10, p90] interval its spread, so the duration is
taken as log-normal with mu = ln(point) and sigma = ln(p90 / p10) / (2 x 1.2816). Serving the
highest Gittins index first is optimal for mean completion time when each job's size is drawn
from a known distribution of its own (Gittins 1989; Scully, Harchol-Balter & Scheller-Wolf,
"SOAP", 2018), so this is the policy a predictor with honest intervals asks for: a job predicted
short with a narrow interval runs first, as in `psrtf`; one with a wide interval gets a chance to
be short, and once it has outlived most of its mass, its rank worsens as the distribution says.

The index scales with the median: with S = m x Z, Z ~ LogNormal(0, sigma), G_S(a) = G_Z(a / m) / m.
So one table over (sigma, a / m) serves every job; it is computed once (`lognormal_index`: Z's
survival function, linear between 1,201 points over +/-6 sigma) and looked up by interpolation,
linear in the standardised attained time u = ln(a / m) / sigma and in ln sigma. Below the table
(u under -6: almost none of the mass has ended) the cost falls linearly from a = 0, which is exact
for a deterministic size. Beyond it (u > `U_MAX`: the job has outlived all but a thousandth of its
predicted mass, so the prediction was wrong) the job is ranked by the time it has run, like LAS: a
heavy tail's expected remaining time grows with age.

`cost` returns 1 / G in seconds: the further running time per unit of completion chance. For a
deterministic size it is exactly the remaining time, so ranking by lowest cost is SRPT in that
limit and Gittins in general.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy.special import ndtr

Z90 = 1.2815515655446004
"""The standard normal's 0.9 quantile: [p10, p90] spans 2 x Z90 sigmas."""
SIGMA_MIN, SIGMA_MAX = 0.05, 4.0
"""The table's sigma range: narrower intervals are taken as SIGMA_MIN, wider as SIGMA_MAX."""
SIGMA_POINTS = 40
U_MIN, U_MAX, U_STEP = -6.0, 3.0, 0.05
"""Standardised attained times tabulated: below U_MIN nearly all the mass lies ahead; past U_MAX
(the 0.9987 quantile) the job is ranked by its age."""


def sigma_of(p10: np.ndarray | float, p90: np.ndarray | float) -> np.ndarray:
    """The log-normal sigma whose [p10, p90] is the given interval, clipped to the table."""
    spread = np.log(np.maximum(p90, 1e-9)) - np.log(np.maximum(p10, 1e-9))
    return np.clip(np.asarray(spread, dtype=np.float64) / (2 * Z90), SIGMA_MIN, SIGMA_MAX)


def lognormal_index(sigma: float, attained: np.ndarray, z_edges: np.ndarray) -> np.ndarray:
    """G(a) of LogNormal(0, sigma) at each `attained` value, with the survival function taken
    linear between the points exp(sigma x `z_edges`) (exact there).

    A distribution of point masses would not do: a mass just above a makes the completion chance
    per unit of service as large as one likes, so the index would depend on where the grid falls.
    With survival linear in each bin, the ratio P(S - a <= D) / E[min(S - a, D)] is evaluated at
    every edge past a, in one (attained x edges) array operation, the integral by trapezoids."""
    x = np.exp(sigma * z_edges)
    survival = ndtr(-z_edges)
    area = np.concatenate(([0.0], np.cumsum((survival[1:] + survival[:-1]) / 2 * np.diff(x))))
    # below the first edge (6 sigma down) the survival is taken as 1
    s_a = np.interp(attained, x, survival, left=1.0)
    m = np.searchsorted(x, attained, side="right") - 1
    inside = m >= 0
    mi = np.maximum(m, 0)
    area_a = np.where(inside, area[mi] + (survival[mi] + s_a) / 2 * (attained - x[mi]), attained - x[0])
    ahead = x[None, :] > attained[:, None] * (1 + 1e-9)
    served = area[None, :] - area_a[:, None]
    done = s_a[:, None] - survival[None, :]
    ratio = np.where(ahead, done / np.where(ahead, served, 1.0), 0.0)
    return ratio.max(axis=1, initial=0.0)


class LogNormalGittins:
    """1 / Gittins index of S = median x LogNormal(0, sigma), by interpolation in one table."""

    def __init__(self) -> None:
        self.log_sigmas = np.linspace(math.log(SIGMA_MIN), math.log(SIGMA_MAX), SIGMA_POINTS)
        self.u = np.arange(U_MIN, U_MAX + U_STEP / 2, U_STEP)
        z_edges = np.linspace(-6.0, 6.0, 1201)
        table = np.array(
            [lognormal_index(s, np.concatenate(([0.0], np.exp(s * self.u))), z_edges) for s in np.exp(self.log_sigmas)]
        )
        self.cost_fresh = 1.0 / table[:, 0]
        """Cost at a = 0, per sigma, in medians."""
        self.log_cost = -np.log(table[:, 1:])
        """ln(cost / median) at each (sigma, u)."""

    def _row_cost(self, row: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Cost in medians at attained x (in medians) on the table's rows `row` (one per job)."""
        sigma = np.exp(self.log_sigmas[row])
        u = np.log(np.maximum(x, 1e-300)) / sigma
        f = np.clip((u - U_MIN) / U_STEP, 0.0, len(self.u) - 1.0)
        j = np.minimum(f.astype(np.int64), len(self.u) - 2)
        t = f - j
        inside = np.exp((1 - t) * self.log_cost[row, j] + t * self.log_cost[row, j + 1])
        x_lo = np.exp(sigma * U_MIN)
        fresh, first = self.cost_fresh[row], np.exp(self.log_cost[row, 0])
        below = fresh + (first - fresh) * np.minimum(x / x_lo, 1.0)
        return np.where(u < U_MIN, below, np.where(u > U_MAX, x, inside))

    def cost(self, attained: np.ndarray, median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Seconds of further running per unit of completion chance, for jobs that have run
        `attained` seconds with predicted `median` and `sigma` (arrays of one shape)."""
        attained, median = np.asarray(attained, dtype=np.float64), np.asarray(median, dtype=np.float64)
        ls = np.log(np.clip(np.asarray(sigma, dtype=np.float64), SIGMA_MIN, SIGMA_MAX))
        f = np.clip((ls - self.log_sigmas[0]) / (self.log_sigmas[1] - self.log_sigmas[0]), 0.0, SIGMA_POINTS - 1.0)
        i = np.minimum(f.astype(np.int64), SIGMA_POINTS - 2)
        t = f - i
        x = attained / median
        low, high = self._row_cost(i, x), self._row_cost(i + 1, x)
        return median * np.exp((1 - t) * np.log(low) + t * np.log(high))

    def next_steps(self, attained: np.ndarray, median: np.ndarray, sigma: np.ndarray, step: float = 0.5) -> np.ndarray:
        """Per job, the attained time at which its cost has moved enough to re-rank: the next
        multiple of `step` sigmas in u inside the table, 25 % more age beyond it."""
        attained = np.asarray(attained, dtype=np.float64)
        sigma = np.clip(np.asarray(sigma, dtype=np.float64), SIGMA_MIN, SIGMA_MAX)
        u = np.log(np.maximum(attained, 1e-300) / median) / sigma
        # the tolerance keeps a wake-up that lands on a step, up to rounding, from repeating it
        nxt = np.maximum(np.floor(u / step + 1e-6) + 1, math.ceil(U_MIN / step)) * step
        inside = median * np.exp(sigma * np.minimum(nxt, U_MAX))
        return np.where(u >= U_MAX - 1e-6, attained * 1.25, inside)


@cache
def lognormal_gittins() -> LogNormalGittins:
    """The shared table, built on first use."""
    return LogNormalGittins()
