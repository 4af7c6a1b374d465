"""`gavel` and `gavel-agnostic`: Gavel's max-min fairness (Narayanan et al., OSDI'20), in rounds.

Gavel separates *what share* each job should get from *who runs now*. The share is the solution
`X[j, t]` of a max-min fairness LP (`kaon.policy.gavel_lp`): the fraction of time job j should
spend on GPU type t. `gavel` feeds it each job's measured speed per type ("max_min_fairness_perf"),
so a job that gains much from a fast type gets it while a job that barely cares takes the slow
one; `gavel-agnostic` feeds it speed 1 everywhere ("max_min_fairness"), the fairness of a
scheduler that does not see heterogeneity.

Who runs is decided every `round` seconds (360 s, Gavel's default) as Gavel's scheduler does:

- the LP is re-solved only when the set of active jobs changed since the last solve, and each
  re-solve restarts the time accounting (Gavel's `_reset_time_run_so_far`), carrying what each job
  was owed or over-served into a per-type *deficit*;
- each (job, type) pair gets priority `X[j, t] / f[j, t]`, where `f[j, t]` is the job's fraction of
  all time run on type t since the last reset (`X * 1e9` while it has had none, 0 where X is 0);
- pairs are taken greedily by (priority, deficit, X), highest first, in one global queue (Gavel's
  `--enable_global_queue`), each job on at most one type and only while that type has GPUs left for
  its whole gang. Pairs of priority 0 come last but are still taken, so leftover GPUs are used.

Jobs picked for the type they already run on keep their placement (no restart); other running jobs
are preempted at the boundary, and the picked ones are placed largest gang first on their type.

Between boundaries kaon differs from Gavel's simulator, which leaves GPUs freed by a finishing job
idle until the next round: pending jobs (new arrivals and preempted ones, in queue order) are
started on idle GPUs at once, which is work conserving and keeps short jobs from waiting up to a
round. They join the LP at the next boundary.

Weights: a job's share weight is `priority + 1` (`1 / (1 - priority)` for negative priorities),
so each priority step is one more share, as Gavel's priority weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kaon.core.placement import CapacityError, FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.policy.gavel_lp import agnostic_throughputs, max_min_allocation
from kaon.policy.registry import register
from kaon.sim.state import JobState, JobStatus

UNSERVED_PRIORITY = 1e9
"""Gavel's priority multiplier for a pair that has had no time yet: large but finite, so a
larger allocation still ranks first among unserved pairs."""


def share_weight(priority: int) -> float:
    """A job's weight in the LP: one more share per priority step, fewer below zero."""
    return float(priority + 1) if priority >= 0 else 1.0 / (1 - priority)


class TimeLedger:
    """Per active job and GPU type: time run since the last reset, deficit, and allocation.

    Rows live in slot arrays reused as jobs come and go, so a round reads them with one fancy
    index. Open run segments (running jobs) are tracked by start time and type and folded into the
    totals when they close or when a round reads the ledger.
    """

    def __init__(self, num_types: int) -> None:
        self.k = num_types
        self.slot: dict[str, int] = {}
        self._free: list[int] = []
        self.received = np.zeros((0, num_types))
        self.deficit = np.zeros((0, num_types))
        self.alloc = np.zeros((0, num_types))
        self.seg_start = np.zeros(0)
        self.seg_type = np.zeros(0, dtype=np.int64)
        self.type_time = np.zeros(num_types)
        """Time run on each type by all jobs since the last reset (Gavel's worker_time_so_far)."""

    def add(self, job_id: str) -> None:
        if not self._free:
            self._grow()
        s = self._free.pop()
        self.received[s] = 0.0
        self.deficit[s] = 0.0
        self.alloc[s] = 0.0
        self.seg_start[s] = np.nan
        self.slot[job_id] = s

    def _grow(self) -> None:
        """Double the slot arrays; called only when every slot is taken."""
        old = self.received.shape[0]
        extra = max(64, old)
        self.received = np.vstack([self.received, np.zeros((extra, self.k))])
        self.deficit = np.vstack([self.deficit, np.zeros((extra, self.k))])
        self.alloc = np.vstack([self.alloc, np.zeros((extra, self.k))])
        self.seg_start = np.concatenate([self.seg_start, np.full(extra, np.nan)])
        self.seg_type = np.concatenate([self.seg_type, np.zeros(extra, dtype=np.int64)])
        self._free = list(range(old + extra - 1, old - 1, -1))

    def remove(self, job_id: str) -> None:
        self._free.append(self.slot.pop(job_id))

    def open(self, job_id: str, gpu_type: int, now: float) -> None:
        s = self.slot[job_id]
        self.seg_start[s] = now
        self.seg_type[s] = gpu_type

    def close(self, job_id: str, now: float) -> None:
        s = self.slot[job_id]
        dt = now - self.seg_start[s]
        t = self.seg_type[s]
        self.received[s, t] += dt
        self.type_time[t] += dt
        self.seg_start[s] = np.nan

    def flush(self, slots: np.ndarray, now: float) -> None:
        """Fold the open segments of `slots` into the totals up to `now`."""
        start = self.seg_start[slots]
        open_ = ~np.isnan(start)
        s = slots[open_]
        dt = now - start[open_]
        t = self.seg_type[s]
        np.add.at(self.received, (s, t), dt)
        self.type_time += np.bincount(t, weights=dt, minlength=self.k)
        self.seg_start[s] = now

    def reset(self, slots: np.ndarray, elapsed: float) -> None:
        """Start a new accounting period: each job's deficit grows by what its allocation promised
        over the period minus what it got (Gavel's `_reset_time_run_so_far`)."""
        self.deficit[slots] += self.alloc[slots] * elapsed - self.received[slots]
        self.received[slots] = 0.0
        self.type_time[:] = 0.0


@register
class Gavel(Policy):
    name = "gavel"
    summary = "Gavel heterogeneity-aware max-min fairness: LP time shares per GPU type, served in rounds"
    preemptive = True

    def __init__(
        self,
        *,
        round: float = 360.0,  # noqa: A002 - Gavel's name for the round length
        tiebreak: float = 1e-4,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
    ) -> None:
        super().__init__(placement)
        if not round > 0:
            raise ValueError(f"round must be > 0 seconds, got {round}")
        if not 0 <= tiebreak < 1:
            raise ValueError(f"tiebreak must be in [0, 1), got {tiebreak}")
        self.round = round
        self.tiebreak = tiebreak
        self._active: dict[str, JobState] = {}
        self._ledger: TimeLedger | None = None
        self._changed = False
        self._last_reset = 0.0
        self._next_round = -math.inf
        self.solve_times: list[float] = []
        """Wall seconds of each LP solve, for reporting."""
        self.solve_sizes: list[int] = []
        """Active jobs at each LP solve."""

    # -- hooks: the active set and the time ledger -------------------------------------------

    def _ledger_for(self, job: JobState) -> TimeLedger:
        if self._ledger is None:
            self._ledger = TimeLedger(len(job.speeds))
        return self._ledger

    def job_arrived(self, job: JobState, now: float) -> None:
        self._ledger_for(job).add(job.job_id)
        self._active[job.job_id] = job
        self._changed = True

    def job_started(self, job: JobState, now: float) -> None:
        assert job.placement is not None
        self._ledger_for(job).open(job.job_id, job.placement.gpu_type, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._ledger_for(job).close(job.job_id, now)

    def job_finished(self, job: JobState, now: float) -> None:
        ledger = self._ledger_for(job)
        ledger.close(job.job_id, now)
        ledger.remove(job.job_id)
        del self._active[job.job_id]
        self._changed = True

    # -- decisions ------------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        if not self._active:
            self._next_round = -math.inf
            return Decision()
        if view.now >= self._next_round:
            decision = self._round(view)
            self._next_round = view.now + self.round
        else:
            decision = self._fill(view)
        decision.wake_at = self._next_round
        return decision

    def throughputs(self, jobs: Sequence[JobState]) -> np.ndarray:
        """The LP's throughput matrix: each job's speed per type (Gavel's measured throughputs)."""
        return np.array([j.speeds for j in jobs], dtype=np.float64)

    def _solve(self, jobs: Sequence[JobState], slots: np.ndarray, capacity: np.ndarray) -> None:
        assert self._ledger is not None
        scale = np.array([j.num_gpus for j in jobs], dtype=np.float64)
        weights = np.array([share_weight(j.spec.priority) for j in jobs], dtype=np.float64)
        result = max_min_allocation(self.throughputs(jobs), scale, capacity, weights, tiebreak=self.tiebreak)
        self._ledger.alloc[slots] = result.x
        self.solve_times.append(result.solve_s)
        self.solve_sizes.append(len(jobs))

    def _round(self, view: SchedulerView) -> Decision:
        ledger = self._ledger
        assert ledger is not None
        now = view.now
        jobs = list(self._active.values())
        slots = np.fromiter((ledger.slot[j.job_id] for j in jobs), dtype=np.int64, count=len(jobs))
        capacity = view.cluster.gpus_per_type()
        ledger.flush(slots, now)
        if self._changed:
            ledger.reset(slots, now - self._last_reset)
            self._last_reset = now
            self._solve(jobs, slots, capacity)
            self._changed = False
        chosen = self._pick(jobs, slots, capacity)
        return self._assign(view, jobs, chosen)

    def _pick(self, jobs: Sequence[JobState], slots: np.ndarray, capacity: np.ndarray) -> list[int]:
        """Gavel's greedy round: the type each job runs on this round, or -1."""
        ledger = self._ledger
        assert ledger is not None
        x = ledger.alloc[slots]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(ledger.type_time > 0, ledger.received[slots] / ledger.type_time, 0.0)
            priority = np.where(x > 0, np.where(fraction > 0, x / fraction, x * UNSERVED_PRIORITY), 0.0)
        gpus = np.array([j.num_gpus for j in jobs], dtype=np.int64)
        speeds = np.array([j.speeds for j in jobs], dtype=np.float64)
        jj, tt = np.nonzero((speeds > 0) & (gpus[:, None] <= capacity[None, :]))
        # lexsort's last key is the primary one; ties keep arrival order.
        order = np.lexsort((-x[jj, tt], -ledger.deficit[slots][jj, tt], -priority[jj, tt]))
        left = capacity.tolist()
        chosen = [-1] * len(jobs)
        need = gpus.tolist()
        for j, t in zip(jj[order].tolist(), tt[order].tolist()):
            if chosen[j] >= 0 or need[j] > left[t]:
                continue
            left[t] -= need[j]
            chosen[j] = t
            if not any(left):
                break
        return chosen

    def _assign(self, view: SchedulerView, jobs: Sequence[JobState], chosen: list[int]) -> Decision:
        """Turn the round's choice into preemptions and placements, keeping jobs in place where
        they already run on their chosen type."""
        cap = view.capacity.copy()
        decision = Decision()
        to_place: list[tuple[JobState, int]] = []
        for job, t in zip(jobs, chosen):
            if job.status is JobStatus.RUNNING:
                assert job.placement is not None
                if job.placement.gpu_type == t:
                    continue
                cap.release(job.placement)
                decision.preempts.append(Preempt(job))
            if t >= 0:
                to_place.append((job, t))
        to_place.sort(key=lambda p: -p[0].num_gpus)
        for job, t in to_place:
            p = cap.place_on_type(job.num_gpus, t, self.placement)
            if p is None:
                raise CapacityError(f"gavel round picked {job.job_id} for type {t} beyond its free GPUs")
            cap.allocate(p)
            decision.starts.append(Start(job, p))
        return decision

    def _fill(self, view: SchedulerView) -> Decision:
        """Between rounds: start pending jobs, in queue order, on GPUs that are idle."""
        decision = Decision()
        if not view.pending or view.capacity.total_free == 0:
            return decision
        cap = view.capacity.copy()
        most = int(cap.free_per_type.max())
        for job in view.pending.values():
            if job.num_gpus > most:
                continue
            p = self.place(job, cap)
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))
                most = int(cap.free_per_type.max())
                if most == 0:
                    break
        return decision


@register
class GavelAgnostic(Gavel):
    name = "gavel-agnostic"
    summary = "Gavel max-min fairness blind to GPU types: every job counts as equally fast everywhere"

    def throughputs(self, jobs: Sequence[JobState]) -> np.ndarray:
        return agnostic_throughputs(super().throughputs(jobs))

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        """Types the job may use, most free GPUs first: speed plays no part."""
        order = np.argsort(-capacity.free_per_type, kind="stable")
        return order[job.speeds[order] > 0].tolist()
