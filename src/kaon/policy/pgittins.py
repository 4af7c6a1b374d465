"""`pgittins`: preemptive Gittins index of each job's own predicted duration distribution.

`psrtf` ranks by the predictor's point estimate and, once a job outlives it, by guessed totals
that grow in steps. `pgittins` uses the whole prediction instead: each job's duration is the
log-normal of its interval (`kaon.policy.gittins_lognormal`), and jobs are ranked by 1 / the
Gittins index at the time they have run, times their GPUs (GPU-seconds of further service per
unit of completion chance). With a narrow interval this is SRPT on the point estimate; with a wide
one a fresh job ranks by its chance of being short, and a job that keeps running loses rank as
fast as its distribution says it should. `spread` scales every interval (1: as predicted; more
hedges against an over-confident predictor).

Everything else is `psrtf`'s: the estimator, deferred batched estimates, the lease, and
preemption through `PriorityPolicy`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision
from kaon.policy.gittins_lognormal import lognormal_gittins, sigma_of
from kaon.policy.psrtf import Psrtf
from kaon.policy.registry import register
from kaon.sim.state import JobState


@register
class PredictedGittins(Psrtf):
    name = "pgittins"
    summary = "preemptive Gittins index of each job's predicted log-normal duration (learned runtime estimates)"

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
        lease: float = 360.0,
        spread: float = 1.0,
        min_remaining: float = 60.0,
    ) -> None:
        super().__init__(
            placement=placement, model=model, refit_every=refit_every, min_history=min_history,
            lease=lease, min_remaining=min_remaining,
        )  # fmt: skip
        if not spread > 0:
            raise ValueError(f"spread must be > 0, got {spread}")
        self.spread = spread
        self.table = lognormal_gittins()

    def _distributions(self, jobs: Sequence[JobState]) -> tuple[np.ndarray, np.ndarray]:
        """Each job's predicted median and log-normal sigma (`spread` applied)."""
        estimates = [self._estimates[j.index] for j in jobs]
        median = np.array([e.point for e in estimates])
        sigma = sigma_of(np.array([e.p10 for e in estimates]), np.array([e.p90 for e in estimates])) * self.spread
        return median, sigma

    def costs(self, jobs: Sequence[JobState], executed: Sequence[float]) -> np.ndarray:
        """GPU-seconds of further service per unit of completion chance, one per job."""
        median, sigma = self._distributions(jobs)
        gpus = np.array([j.num_gpus for j in jobs], dtype=np.float64)
        cost = self.table.cost(np.asarray(executed, dtype=np.float64), median, sigma)
        return np.maximum(cost, self.min_remaining) * gpus

    def remaining(self, job: JobState, executed: float) -> float:
        return float(self.costs([job], [executed])[0])

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        if not jobs:
            return []
        return self.costs(jobs, [j.executed_at(now) for j in jobs]).tolist()

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """The earliest instant a job running after `decision` has moved half a sigma further
        through its predicted distribution (or, past it, aged by a quarter)."""
        after, _ = self.running_after(running, decision, now)
        if not after:
            return None
        executed = np.array([j.executed_at(now) for j in after])
        median, sigma = self._distributions(after)
        return float((self.table.next_steps(executed, median, sigma) - executed).min() + now)
