"""`gavel-sized`: Gavel's heterogeneity-aware rounds, each job's share weighted by its remaining size.

Gavel (`kaon.policy.gavel`) wins on a heterogeneous cluster by throughput: its LP gives each job
time on the GPU types where its speed-up is largest relative to the others', and its rounds
time-share the cluster so no type idles. For average JCT its weakness is fairness: every active
job gets the same normalised share, which is processor sharing, so a ten-minute job gets the same
share as a week-long one. Size-based policies (`srtf`, `scored`) fix the order but place one job at
a time and lose the throughput: on the heterogeneous evaluation even oracle `srtf` is 0.99-2.8x
Gavel's average JCT.

Here the LP and the rounds stay Gavel's and only the share weights change. A job's weight is its
priority weight times

    2 ** clip(round(size * log2(3600 / remaining)), -levels, levels)

where `remaining` is its remaining GPU-time in seconds: by default the `psrtf` estimate (the
predictor's point, then its p90, then geometric growth as the job outlives them, minus the time
it has run, at least 60 s, times its GPUs); with `oracle=true`, the true remaining work, a
clairvoyant reference like `srtf`. `size` = 0 is Gavel exactly. As `size` grows the LP gives
short jobs a larger share, on the types they gain most on, and Gavel's rounds (priority =
allocation over time received) serve them first, which tends to SRPT while keeping the LP's
placement. The LP's tie-break counts weight here (`tiebreak_weighted`): with Gavel's, what the
max-min leaves free went to the lightest, i.e. longest, jobs.

Weights are powers of two so jobs still fall into few LP classes (a solve stays milliseconds) and
a job changes class only when its remaining size crosses a power of two. Every round re-derives
the levels; a job whose level moved re-enters the LP as a newcomer does (its new class's row from
the last solve, or a re-solve when the class is new). Between rounds, pending jobs start on idle
GPUs heaviest first instead of in queue order.

`kaon train --algo es --family gavel-sized` learns `size`, `round` and `stay` from history
(`GavelSizedParams`); docs/RESULTS.md reports what it reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from kaon.core.job import PriorJob
from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, SchedulerView
from kaon.policy.gavel import Gavel, share_weight
from kaon.policy.psrtf import predicted_total
from kaon.policy.registry import params_spec, register
from kaon.predict.online import Estimate, OnlineEstimator
from kaon.sim.state import JobState

REFERENCE_GPU_S = 3600.0
"""Remaining GPU-time of weight factor 1. The LP is invariant to a common factor of the weights,
so this only centres the clipping range."""

MIN_REMAINING_S = 60.0
"""A job predicted to be (nearly) done still weighs as a minute's work, not infinitely."""


@register
class GavelSized(Gavel):
    name = "gavel-sized"
    summary = "Gavel's LP rounds with share weights from predicted remaining GPU-time (size=0 is gavel)"
    tiebreak_weighted = True

    def __init__(
        self,
        *,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
        size: float = 0.5,
        levels: int = 6,
        growth: float = 2.0,
        oracle: bool = False,
        round: float = 360.0,  # noqa: A002 - Gavel's name for the round length
        resolve: float = 1920.0,
        stay: float = 0.1,
        tiebreak: float = 1e-4,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
    ) -> None:
        super().__init__(round=round, resolve=resolve, stay=stay, tiebreak=tiebreak, placement=placement)
        if not size >= 0:
            raise ValueError(f"size must be >= 0, got {size}")
        if not levels >= 0:
            raise ValueError(f"levels must be >= 0, got {levels}")
        if not growth > 1:
            raise ValueError(f"growth must be > 1, got {growth}")
        self.size, self.levels, self.growth, self.oracle = size, levels, growth, oracle
        self.estimator = OnlineEstimator(model, refit_every=refit_every, min_history=min_history)
        self._estimates: dict[int, Estimate] = {}
        self._unestimated: dict[int, JobState] = {}
        """Arrived jobs without a model estimate yet: estimated in one batch at the next decision."""
        self._level: dict[int, int] = {}
        """Each active job's weight exponent, by job index (0 until it has an estimate)."""

    def remaining(self, job: JobState, now: float) -> float | None:
        """The job's remaining GPU-seconds as this policy sees them (None: no estimate yet)."""
        if self.oracle:
            return max(job.remaining_at(now), MIN_REMAINING_S) * job.num_gpus
        estimate = self._estimates.get(job.index)
        if estimate is None:
            return None
        executed = job.executed_at(now)
        return max(predicted_total(estimate, executed, self.growth) - executed, MIN_REMAINING_S) * job.num_gpus

    def level(self, job: JobState, now: float) -> int:
        """The job's weight exponent at `now`: 0 at `size` 0 or without an estimate."""
        left = self.remaining(job, now) if self.size > 0 else None
        if left is None:
            return 0
        return int(np.clip(round(self.size * math.log2(REFERENCE_GPU_S / left)), -self.levels, self.levels))

    def _weight(self, job: JobState) -> float:
        return share_weight(job.spec.priority) * 2.0 ** self._level.get(job.index, 0)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        self.estimator.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        estimate = self.estimator.arrived(job, now)
        if estimate is None:
            self._unestimated[job.index] = job
        else:
            self._estimates[job.index] = estimate
        self._level[job.index] = self.level(job, now)
        super().job_arrived(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        super().job_finished(job, now)
        self._estimates.pop(job.index, None)
        self._unestimated.pop(job.index, None)
        self._level.pop(job.index, None)
        self.estimator.finished(job, now)

    def decide(self, view: SchedulerView) -> Decision:
        if self._unestimated:
            batch = list(self._unestimated.values())
            for job, estimate in zip(batch, self.estimator.estimate_many(batch)):
                self._estimates[job.index] = estimate
            self._unestimated.clear()
        return super().decide(view)

    def _round(self, view: SchedulerView) -> Decision:
        """Re-derive every active job's level first; a job whose level moved re-enters the LP."""
        for s, job in self._job_at.items():
            level = self.level(job, view.now)
            if self._level.get(job.index) != level:
                self._level[job.index] = level
                self._keys[s] = self._lp_key(job)
                self._newcomers[job.job_id] = job
                self._changed = True
        return super()._round(view)

    def _fill_order(self, pending: list[JobState], now: float) -> list[JobState]:
        """Heaviest first (the shortest remaining), queue order among equals."""
        return sorted(pending, key=lambda j: -self._level.get(j.index, 0))


@dataclass(frozen=True, slots=True)
class GavelSizedParams:
    """What `kaon train --algo es --family gavel-sized` learns (keyword arguments of the same
    names). The defaults are Gavel's own: `size` 0, 360 s rounds, `stay` 0.1."""

    size: float = 0.0
    round: float = 360.0  # noqa: A003 - Gavel's name for the round length
    stay: float = 0.1

    def spec(self, model: str | None = None) -> str:
        """The policy spec string (`gavel-sized:...`), with `model=DIR` when given."""
        return params_spec(GavelSized.name, self, model)

    def policy(self, model: str | None) -> GavelSized:
        return GavelSized(model=model, **asdict(self))
