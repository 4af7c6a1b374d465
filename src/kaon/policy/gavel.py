"""`gavel` and `gavel-agnostic`: Gavel's max-min fairness (Narayanan et al., OSDI'20), in rounds.

Gavel separates *what share* each job should get from *who runs now*. The share is the solution
`X[j, t]` of a max-min fairness LP (`kaon.policy.gavel_lp`): the fraction of time job j should
spend on GPU type t. `gavel` feeds it each job's measured speed per type ("max_min_fairness_perf"),
so a job that gains much from a fast type gets it while a job that barely cares takes the slow
one.

Who runs is decided every `round` seconds (360 s, Gavel's default) as Gavel's scheduler does:

- each time the set of active jobs changed, the time accounting restarts (Gavel's
  `_reset_time_run_so_far`), carrying what each job was owed or over-served into a per-type
  *deficit*, and the LP is re-solved, but at most once per `resolve` seconds (1920 s, Gavel's
  `minimum_time_between_allocation_resets`). Gavel re-solves on every change; kaon gates it
  because a solve is the dominant cost of a replay (one per round while jobs keep arriving). In
  between, a job that arrived takes the row of its class (same throughputs, GPU count and weight)
  from the last solve, which is what a solve would give it up to the change in its class's head
  count; a job of a class the last solve did not see forces a re-solve, so every active job
  always has an LP share;
- each (job, type) pair gets priority `X[j, t] / f[j, t]`, where `f[j, t]` is the job's fraction of
  all time run on type t since the last reset (`X * 1e9` while it has had none, 0 where X is 0);
- pairs are taken greedily by (priority, deficit, X), highest first, in one global queue (Gavel's
  `--enable_global_queue`), each job on at most one type and only while that type has GPUs left for
  its whole gang. Pairs of priority 0 come last but are still taken, so leftover GPUs are used.
  A running job whose pair on its own type ranks within `stay` (relative) of the pair that came up
  takes its own type instead when that has room: a migration costs a restart, and the two pairs
  are the LP's preference only up to a ratio of priorities that the next rounds even out.

Jobs picked for the type they already run on keep their placement (no restart); other running jobs
are preempted at the boundary, and the picked ones are placed largest gang first on their type.

`gavel-agnostic` is Gavel's heterogeneity-agnostic baseline ("max_min_fairness"): the same rounds,
but the scheduler does not distinguish GPU types at all. Its LP is solved over the pooled GPUs as
one type (every job equally fast everywhere), which has a closed form (water-filling), and its
time accounting is per job, not per type. A job picked in a round keeps whatever type it runs on;
only a job that is placed anew picks a type, the one with most room. Feeding the agnostic
throughputs to the per-type LP instead would leave the split of `X[j, t]` across types arbitrary
(any split is optimal), and the rounds would then move jobs between types every round for no
reason the scheduler could know of, paying a restart each time.

Between boundaries kaon differs from Gavel's simulator, which leaves GPUs freed by a finishing job
idle until the next round: pending jobs (new arrivals and preempted ones, in queue order) are
started on idle GPUs at once, which is work conserving and keeps short jobs from waiting up to a
round. They join the LP at the next boundary.

Weights: a job's share weight is `priority + 1` (`1 / (1 - priority)` for negative priorities),
so each priority step is one more share, as Gavel's priority weights.

Per-round work is numpy over slot arrays of the active jobs (`TimeLedger`); only jobs whose type
changes are touched one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from kaon.core.placement import CapacityError, FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.policy.gavel_ledger import TimeLedger
from kaon.policy.gavel_lp import max_min_allocation, pooled_max_min_allocation
from kaon.policy.registry import register
from kaon.sim.state import JobState


def share_weight(priority: int) -> float:
    """A job's weight in the LP: one more share per priority step, fewer below zero."""
    return float(priority + 1) if priority >= 0 else 1.0 / (1 - priority)


LpKey = tuple[bytes, int, float]
"""Jobs with equal LP keys (throughput row, GPU count, weight) get equal LP rows."""


@register
class Gavel(Policy):
    name = "gavel"
    summary = "Gavel heterogeneity-aware max-min fairness: LP time shares per GPU type, served in rounds"
    preemptive = True

    def __init__(
        self,
        *,
        round: float = 360.0,  # noqa: A002 - Gavel's name for the round length
        resolve: float = 1920.0,
        stay: float = 0.1,
        tiebreak: float = 1e-4,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
    ) -> None:
        super().__init__(placement)
        if not round > 0:
            raise ValueError(f"round must be > 0 seconds, got {round}")
        if not resolve >= 0:
            raise ValueError(f"resolve must be >= 0 seconds, got {resolve}")
        if not 0 <= stay < 1:
            raise ValueError(f"stay must be in [0, 1), got {stay}")
        if not 0 <= tiebreak < 1:
            raise ValueError(f"tiebreak must be in [0, 1), got {tiebreak}")
        self.round = round
        self.resolve = resolve
        self.stay = stay
        self.tiebreak = tiebreak
        self._ledger: TimeLedger | None = None
        self._job_at: dict[int, JobState] = {}
        self._newcomers: dict[str, JobState] = {}
        self._class_rows: dict[LpKey, np.ndarray] = {}
        self._keys: dict[int, LpKey] = {}
        """Each active job's LP key by slot, computed once on arrival: a solve over thousands of
        jobs would otherwise spend more time hashing speed rows than in the solver."""
        self._changed = False
        """The active set changed since the last round: the accounting restarts."""
        self._stale = False
        """The active set changed since the last LP solve."""
        self._last_solve = -math.inf
        self._next_round = -math.inf
        self.solve_times: list[float] = []
        """Wall seconds of each LP solve, for reporting."""
        self.solve_sizes: list[int] = []
        """Active jobs at each LP solve."""

    # -- what the LP sees: per GPU type here, pooled in the agnostic variant ------------------

    accounts_pooled = False
    """True: time is accounted and shared over all GPUs as one pool, not per type."""

    def _account(self, gpu_type: int) -> int:
        return 0 if self.accounts_pooled else gpu_type

    def allocation(self, job: JobState) -> np.ndarray | None:
        """The job's LP row (its time fraction on each GPU type), None if it is not active."""
        if self._ledger is None or job.job_id not in self._ledger.slot:
            return None
        return self._ledger.alloc[self._ledger.slot[job.job_id]].copy()

    tiebreak_weighted = False
    """The LP's tie-break favours heavy jobs (`gavel-sized`), not light ones (Gavel's)."""

    def _weight(self, job: JobState) -> float:
        """The job's share weight in the LP (`gavel-sized` multiplies in its predicted size)."""
        return share_weight(job.spec.priority)

    def _lp_key(self, job: JobState) -> LpKey:
        return (job.speeds.tobytes(), job.num_gpus, self._weight(job))

    def _allocation(self, jobs: Sequence[JobState], capacity: np.ndarray) -> tuple[np.ndarray, float]:
        """The LP rows of `jobs` and the solve's wall seconds."""
        scale = np.array([j.num_gpus for j in jobs], dtype=np.float64)
        weights = np.array([self._weight(j) for j in jobs], dtype=np.float64)
        thr = np.array([j.speeds for j in jobs], dtype=np.float64)
        result = max_min_allocation(
            thr, scale, capacity, weights, tiebreak=self.tiebreak, tiebreak_weighted=self.tiebreak_weighted
        )
        return result.x, result.solve_s

    # -- hooks: the active set and the time ledger -------------------------------------------

    def _ledger_for(self, job: JobState) -> TimeLedger:
        if self._ledger is None:
            k = len(job.speeds)
            self._ledger = TimeLedger(1 if self.accounts_pooled else k, k)
        return self._ledger

    def job_arrived(self, job: JobState, now: float) -> None:
        s = self._ledger_for(job).add(job.job_id, now, job.num_gpus, job.speeds > 0)
        self._job_at[s] = job
        self._keys[s] = self._lp_key(job)
        self._newcomers[job.job_id] = job
        self._changed = True

    def job_started(self, job: JobState, now: float) -> None:
        assert job.placement is not None
        t = job.placement.gpu_type
        self._ledger_for(job).open(job.job_id, self._account(t), t, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._ledger_for(job).close(job.job_id, now)

    def job_finished(self, job: JobState, now: float) -> None:
        ledger = self._ledger_for(job)
        ledger.close(job.job_id, now)
        del self._job_at[ledger.slot[job.job_id]]
        del self._keys[ledger.slot[job.job_id]]
        ledger.remove(job.job_id)
        self._newcomers.pop(job.job_id, None)
        self._changed = True

    # -- decisions ------------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        if not self._job_at:
            self._next_round = -math.inf
            return Decision()
        if view.now >= self._next_round:
            decision = self._round(view)
            self._next_round = view.now + self.round
        else:
            decision = self._fill(view)
        decision.wake_at = self._next_round
        return decision

    def _round(self, view: SchedulerView) -> Decision:
        ledger = self._ledger
        assert ledger is not None
        now = view.now
        slots = ledger.active_slots()
        capacity = view.cluster.gpus_per_type()
        ledger.flush(slots, now)
        if self._changed or (self._stale and now - self._last_solve >= self.resolve):
            self._update_allocation(slots, capacity, now)
        return self._assign(view, slots, self._pick(slots, capacity, now))

    def _update_allocation(self, slots: np.ndarray, capacity: np.ndarray, now: float) -> None:
        """Reset the accounting; re-solve if `resolve` seconds passed since the last solve or a
        newcomer's class has no row yet, otherwise give newcomers their class's row."""
        ledger = self._ledger
        assert ledger is not None
        ledger.reset(slots, now)
        self._changed = False
        keys = {job_id: self._keys[ledger.slot[job_id]] for job_id in self._newcomers}
        self._newcomers.clear()
        if now - self._last_solve < self.resolve and all(k in self._class_rows for k in keys.values()):
            for job_id, key in keys.items():
                ledger.alloc[ledger.slot[job_id]] = self._class_rows[key]
            self._stale = True
            return
        jobs = [self._job_at[s] for s in slots.tolist()]
        x, solve_s = self._allocation(jobs, capacity)
        ledger.alloc[slots] = x
        self._class_rows = {self._keys[s]: row for s, row in zip(slots.tolist(), x)}
        self.solve_times.append(solve_s)
        self.solve_sizes.append(len(jobs))
        self._last_solve = now
        self._stale = False

    def _pick(self, slots: np.ndarray, capacity: np.ndarray, now: float) -> np.ndarray:
        """Gavel's greedy round: the GPU type each job runs on this round, or -1."""
        ledger = self._ledger
        assert ledger is not None
        x = ledger.alloc[slots]
        priority = ledger.priorities(slots)
        gpus = ledger.gpus[slots]
        jj, tt = np.nonzero(ledger.usable[slots] & (gpus[:, None] <= capacity[None, :]))
        # lexsort's last key is the primary one; ties keep arrival order.
        order = np.lexsort((-x[jj, tt], -ledger.deficit[slots][jj, tt], -priority[jj, tt]))
        left = capacity.tolist()
        chosen = [-1] * len(slots)
        need = gpus.tolist()
        on = ledger.on_type[slots].tolist()
        keep = 1.0 - self.stay
        for j, t in zip(jj[order].tolist(), tt[order].tolist()):
            if chosen[j] >= 0 or need[j] > left[t]:
                continue
            c = on[j]
            if c >= 0 and c != t and need[j] <= left[c] and priority[j, c] > keep * priority[j, t]:
                t = c
            left[t] -= need[j]
            chosen[j] = t
            if not any(left):
                break
        return np.array(chosen, dtype=np.int64)

    def _assign(self, view: SchedulerView, slots: np.ndarray, chosen: np.ndarray) -> Decision:
        """Turn the round's choice into preemptions and placements, keeping jobs in place where
        they already run on their chosen type."""
        ledger = self._ledger
        assert ledger is not None
        on = ledger.on_type[slots]
        moved = np.flatnonzero(on != chosen)
        cap = view.capacity.copy()
        decision = Decision()
        for i in moved[on[moved] >= 0].tolist():
            job = self._job_at[int(slots[i])]
            assert job.placement is not None
            cap.release(job.placement)
            decision.preempts.append(Preempt(job))
        placed = moved[chosen[moved] >= 0]
        placed = placed[np.argsort(-ledger.gpus[slots[placed]], kind="stable")]
        for i in placed.tolist():
            job, t = self._job_at[int(slots[i])], int(chosen[i])
            p = cap.place_on_type(job.num_gpus, t, self.placement)
            if p is None:
                raise CapacityError(f"{self.name} round picked {job.job_id} for type {t} beyond its free GPUs")
            cap.allocate(p)
            decision.starts.append(Start(job, p))
        return decision

    def _fill_order(self, pending: list[JobState], now: float) -> list[JobState]:
        """The order in which `_fill` tries pending jobs: queue order."""
        return pending

    def _fill(self, view: SchedulerView) -> Decision:
        """Between rounds: start pending jobs, in `_fill_order`, on GPUs that are idle."""
        decision = Decision()
        if not view.pending or view.capacity.total_free == 0:
            return decision
        cap = view.capacity.copy()
        most = int(cap.free_per_type.max())
        for job in self._fill_order(list(view.pending.values()), view.now):
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
    summary = "Gavel max-min fairness blind to GPU types: one pooled LP share per job, jobs stay on their type"

    accounts_pooled = True

    def _lp_key(self, job: JobState) -> LpKey:
        return (b"", job.num_gpus, share_weight(job.spec.priority))

    def _allocation(self, jobs: Sequence[JobState], capacity: np.ndarray) -> tuple[np.ndarray, float]:
        scale = np.array([j.num_gpus for j in jobs], dtype=np.float64)
        weights = np.array([share_weight(j.spec.priority) for j in jobs], dtype=np.float64)
        result = pooled_max_min_allocation(scale, float(capacity.sum()), weights)
        return result.x, result.solve_s

    def _pick(self, slots: np.ndarray, capacity: np.ndarray, now: float) -> np.ndarray:
        """The greedy round over the pool: jobs by (priority, deficit, X) while the pool has GPUs
        for their gang; then picked running jobs keep their type and picked pending ones go, in
        the same order, to the type with most room. Jobs that find no type room (the pool had GPUs
        but no single type had enough) leave GPUs that later jobs in the order may use."""
        ledger = self._ledger
        assert ledger is not None
        x = ledger.alloc[slots, 0]
        gpus = ledger.gpus[slots]
        usable = ledger.usable[slots] & (gpus[:, None] <= capacity[None, :])
        ok = np.flatnonzero(usable.any(axis=1))
        order = ok[np.lexsort((-x[ok], -ledger.deficit[slots, 0][ok], -ledger.priorities(slots)[ok, 0]))]
        # The pool's greedy: the longest prefix of the order that fits, then later jobs that do.
        total = int(capacity.sum())
        taken = np.cumsum(gpus[order])
        k = int(np.searchsorted(taken, total, side="right"))
        picked = np.zeros(len(slots), dtype=bool)
        picked[order[:k]] = True
        pool = total - (int(taken[k - 1]) if k else 0)
        for i in order[k:][gpus[order[k:]] <= pool].tolist():
            if gpus[i] <= pool:
                picked[i] = True
                pool -= int(gpus[i])
                if pool == 0:
                    break
        on = ledger.on_type[slots]
        chosen = np.full(len(slots), -1, dtype=np.int64)
        stays = picked & (on >= 0)
        chosen[stays] = on[stays]
        used = np.bincount(on[stays], weights=gpus[stays], minlength=len(capacity)).astype(np.int64)
        left = (capacity - used).tolist()
        rest = order[~stays[order]]
        first = rest[picked[rest]]
        seq = np.concatenate([first, rest[~picked[rest]]])
        # Plain lists: the walk touches one job at a time, where numpy calls cost more than work.
        need, on_l, may = gpus[seq].tolist(), on[seq].tolist(), usable[seq].tolist()
        for i, g, c, ok in zip(seq.tolist(), need, on_l, may):
            most = max(left)
            if most < g:
                if most == 0:
                    break
                continue
            t, best = -1, -1
            if c >= 0:
                t = c if left[c] >= g else -1
            else:
                for u, room in enumerate(left):  # the type with most room, the first on ties
                    if ok[u] and room >= g and room > best:
                        t, best = u, room
            if t >= 0:
                chosen[i] = t
                left[t] -= g
        return chosen

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        """Types the job may use, most free GPUs first: speed plays no part."""
        order = np.argsort(-capacity.free_per_type, kind="stable")
        return order[job.speeds[order] > 0].tolist()
