"""`srpt-fm`: shortest remaining processing time first, each job on the fastest GPU type it can get.

On machines of different speeds, preemptive SRPT that gives the shortest job the fastest machine,
the next one the next fastest and so on ("SRPT-FM") minimises the total completion time of jobs
present at once when every job has the same speed ratio between machines (Q|pmtn|sum C_j,
Gonzalez 1977); with arrivals it is a heuristic. Oracle
`srtf` ignores GPU types, which on a heterogeneous cluster leaves long jobs on K80s (docs/RESULTS.md),
so it is no limit there; `srpt-fm:oracle=true` is the clairvoyant reference that knows both the
sizes and the speeds. Without `oracle`, sizes are `gavel-sized`'s predicted remaining GPU-time.

It reuses Gavel's rounds (`kaon.policy.gavel`): every `round` seconds the running set is chosen
afresh and jobs that keep their type keep their placement. Only the choice differs: instead of
the LP's shares, jobs are taken in order of remaining GPU-time over their best speed (the time
the rest would take on their fastest type), and each takes, of the types with room for its gang,
the one where it runs fastest. Per-job speeds come from the throughput table, so with job-type
dependent speeds this is the natural greedy, not a proven optimum. `stay` damps migrations: a
running job's key is multiplied by 1 - `stay`, and it keeps its current type when that has room
and runs it at least 1 - `stay` times as fast as the best free one. Between rounds, idle GPUs go
to pending jobs in the same order.
"""

from __future__ import annotations

import numpy as np

from kaon.core.placement import PlacementStrategy
from kaon.policy.gavel_sized import REFERENCE_GPU_S, GavelSized
from kaon.policy.registry import register
from kaon.sim.state import JobState


@register
class SrptFm(GavelSized):
    name = "srpt-fm"
    summary = "shortest (predicted or, with oracle, true) remaining time first, each job on its fastest free GPU type, in rounds"

    def __init__(
        self,
        *,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
        growth: float = 2.0,
        oracle: bool = False,
        round: float = 360.0,  # noqa: A002 - Gavel's name for the round length
        stay: float = 0.1,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
    ) -> None:
        super().__init__(
            model=model, refit_every=refit_every, min_history=min_history, size=0.0, growth=growth,
            oracle=oracle, round=round, stay=stay, placement=placement,
        )  # fmt: skip

    def key(self, job: JobState, now: float) -> float:
        """Seconds the job's remaining work takes on its fastest type, times its GPUs (one GPU-hour
        of work while it has no estimate yet)."""
        left = self.remaining(job, now)
        return (left if left is not None else REFERENCE_GPU_S * job.num_gpus) / float(job.speeds.max())

    def _update_allocation(self, slots: np.ndarray, capacity: np.ndarray, now: float) -> None:
        """No LP: only the accounting restarts (it tracks which type each job runs on)."""
        assert self._ledger is not None
        self._ledger.reset(slots, now)
        self._changed = False
        self._newcomers.clear()

    def _pick(self, slots: np.ndarray, capacity: np.ndarray, now: float) -> np.ndarray:
        """Shortest key first, each job on the fastest type with room for its gang."""
        ledger = self._ledger
        assert ledger is not None
        jobs = [self._job_at[s] for s in slots.tolist()]
        on = ledger.on_type[slots].tolist()
        keep = 1.0 - self.stay
        keys = np.array([self.key(j, now) * (keep if c >= 0 else 1.0) for j, c in zip(jobs, on)])
        left = capacity.tolist()
        chosen = [-1] * len(jobs)
        # One walk over the active jobs, a few GPU types each: plain lists beat numpy calls here.
        for i in np.argsort(keys, kind="stable").tolist():
            job, need = jobs[i], jobs[i].num_gpus
            speeds = job.speeds.tolist()
            best, best_speed = -1, 0.0
            for t, speed in enumerate(speeds):
                if speed > best_speed and left[t] >= need:
                    best, best_speed = t, speed
            if best < 0:
                if max(left) == 0:
                    break
                continue
            c = on[i]
            if c >= 0 and c != best and left[c] >= need and speeds[c] >= keep * best_speed:
                best = c
            left[best] -= need
            chosen[i] = best
        return np.array(chosen, dtype=np.int64)

    def _fill_order(self, pending: list[JobState], now: float) -> list[JobState]:
        """Shortest key first."""
        return sorted(pending, key=lambda j: self.key(j, now))
