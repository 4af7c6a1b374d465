"""`gittins`: rank by the Gittins index of attained GPU-service, learned from finished jobs.

Tiresias' 2D-Gittins (Gu et al., NSDI'19, sec. 3.2; Gittins, "Multi-armed Bandit Allocation
Indices", 1989): with job sizes S (GPU-seconds) drawn from a known distribution, the index of a job
that has attained service a is

    G(a) = sup_D  P(S - a <= D | S > a) / E[min(S - a, D) | S > a],

the best completion probability per unit of further service; serving the highest index first
minimises mean completion time when sizes are unknown but their distribution is (Aalto, Ayesta &
Righter 2009). The distribution is the empirical one of the jobs that finished before now (those
that finished before the run, `jobs_finished_before`, included; plus an optional prior sample),
compressed to at most `MAX_SAMPLES` quantiles. Over an empirical distribution the supremum is
reached at D = s - a for a surviving size s, so G is exact on that grid; it is tabulated on a grid
of attained values and interpolated, and the table is refitted every `refit_every` finishes.
`history` > 0 keeps only the last that many sizes: job sizes drift (Philly's median duration moved
20x within weeks), and a fit on the recent past follows them. Until `min_history` jobs have
finished the order is LAS. A job past the largest size seen has index 0 and waits behind every job
with a chance to finish.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from kaon.core.job import PriorJob
from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision
from kaon.policy.las import Las
from kaon.policy.registry import register
from kaon.sim.state import JobState

MAX_SAMPLES = 1024
"""Quantiles kept of the size history: the table costs grid x samples, independent of history."""
GRID_POINTS = 256
"""Log-spaced attained values the index is tabulated at, besides the sample sizes themselves."""


def gittins_table(sizes: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """G(a) for each attained value in `grid` over the empirical distribution of `sizes`, in one
    (grid x sizes) array operation."""
    s = np.sort(np.asarray(sizes, dtype=np.float64))
    n = len(s)
    residual = s[None, :] - grid[:, None]  # S - a for each attained value (rows) and size
    survives = residual > 0
    k = np.cumsum(survives, axis=1)  # survivors with size <= s_i
    # E[min(S - a, s_i - a)] x survivors: the residuals up to s_i, plus s_i - a for each one beyond.
    # Summed per row, not from global prefix sums, so a close to a size loses no precision.
    spent = np.cumsum(np.where(survives, residual, 0.0), axis=1) + residual * (n - 1 - np.arange(n))[None, :]
    ratio = np.where(survives, k / np.where(survives, spent, 1.0), 0.0)
    return ratio.max(axis=1, initial=0.0)


class GittinsIndex:
    """The index as a function of attained service, tabulated once per fit."""

    def __init__(self, sizes: np.ndarray) -> None:
        sizes = np.asarray(sizes, dtype=np.float64)
        if len(sizes) > MAX_SAMPLES:
            sizes = np.quantile(sizes, np.linspace(0.0, 1.0, MAX_SAMPLES))
        top = float(sizes.max())
        low = max(float(sizes.min()) * 1e-3, top * 1e-9)
        # G is smooth between sizes and drops at each: log-spaced points follow the smooth parts,
        # each size and the float just below it pin the drops.
        edges = np.concatenate((sizes, np.nextafter(sizes, 0.0)))
        self.grid = np.unique(np.concatenate(([0.0], np.geomspace(low, top, GRID_POINTS), edges)))
        self.table = gittins_table(sizes, self.grid)

    def __call__(self, attained: np.ndarray | float) -> np.ndarray:
        return np.interp(attained, self.grid, self.table, right=0.0)


@register
class Gittins(Las):
    name = "gittins"
    summary = "highest Gittins index of attained GPU-service first, size distribution learned online"

    def __init__(
        self,
        prior: Sequence[float] = (),
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        lease: float = 360.0,
        refit_every: int = 100,
        min_history: int = 30,
        history: int = 0,
    ) -> None:
        """`prior`: job sizes (GPU-seconds) known before the run, e.g. a history trace's; not a
        command-line parameter."""
        super().__init__(placement=placement, lease=lease)
        if refit_every < 1 or min_history < 1:
            raise ValueError(f"refit_every and min_history must be >= 1, got {refit_every}, {min_history}")
        if history < 0:
            raise ValueError(f"history must be >= 0 jobs, got {history}")
        self.refit_every = refit_every
        self.min_history = min_history
        self._sizes: deque[float] = deque((float(s) for s in prior), maxlen=history or None)
        if any(not s > 0 for s in self._sizes):
            raise ValueError("prior job sizes must be > 0 GPU-seconds")
        self._since_fit = 0
        enough = len(self._sizes) >= min_history
        self.index: GittinsIndex | None = GittinsIndex(np.array(self._sizes)) if enough else None

    def pending_key(self, job: JobState) -> float:
        if self.index is None:
            return job.attained
        return -float(self.index(job.attained))

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        attained = [j.attained_at(now) for j in jobs]
        if self.index is None:
            return attained
        return (-self.index(np.array(attained))).tolist()

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """When a running job past its lease first falls below the best waiting job's index."""
        if self.index is None:
            return super().next_change(running, decision, now)
        back = (-float(self.index(a.job.attained_at(now))) for a in decision.preempts)
        keys = [k for k in (self.queue.ceiling(-np.inf), *back) if k is not None]
        if not keys:
            return None
        after, lease_ends = self.running_after(running, decision, now)
        free = [(j, j.attained_at(now)) for j, end in zip(after, lease_ends) if end <= now]
        if not free:
            return None
        grid, table = self.index.grid, self.index.table
        below = table < -min(keys)
        # next_below[i]: first grid point at or after i where the index is below the best waiting one
        pos = np.where(below, np.arange(len(grid)), len(grid))
        next_below = np.minimum.accumulate(pos[::-1])[::-1]
        attained = np.array([a for _, a in free])
        gpus = np.array([j.num_gpus for j, _ in free], dtype=np.float64)
        start = np.minimum(np.searchsorted(grid, attained, side="right"), len(grid) - 1)
        hit = next_below[start]
        # only jobs still ahead of the best waiting one can be overtaken by it
        ok = (hit < len(grid)) & (self.index(attained) >= -min(keys))
        if not ok.any():
            return None
        when = now + (grid[hit[ok]] - attained[ok]) / gpus[ok]
        return float(when.min())

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        """The sizes of jobs finished before the run join the history the index is fitted on, as
        the finishes the policy sees itself do (a replayed window's recent past, a restarted
        service's completed jobs)."""
        if not prior:
            return
        self._sizes.extend(p.spec.gpu_seconds for p in prior)
        if len(self._sizes) >= self.min_history:
            self._refit()

    def job_finished(self, job: JobState, now: float) -> None:
        self._sizes.append(job.spec.gpu_seconds)
        self._since_fit += 1
        due = self.index is None and len(self._sizes) >= self.min_history
        if due or (self.index is not None and self._since_fit >= self.refit_every):
            self._refit()

    def _refit(self) -> None:
        """Fit the index on the sizes kept and re-rank the waiting jobs by it."""
        self.index = GittinsIndex(np.array(self._sizes))
        self._since_fit = 0
        self.queue.rebuild(self.pending_key)
