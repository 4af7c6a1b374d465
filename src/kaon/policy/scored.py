"""`scored`: a preemptive priority scheduler whose rank is a weighted sum of job features.

It is the policy family `kaon train --algo es` searches over (see docs/LEARNING.md): the weights
are what is learned, the machinery is `PriorityPolicy`'s (minimum lease, budget walk, preemption
of the lowest-ranked). A job's rank, lower first, is

    w_remaining * log(predicted remaining s) + w_attained * log(1 + attained GPU-s)
      + w_gpus * log(GPUs) + w_uncertainty * log(p90 / p10)

so `w_remaining = w_gpus = 1` is `psrtf` and `w_attained = 1` is LAS; in between it trades the
predictor's ranking (moderately good on Philly, Spearman ~0.5) against attained service (no
prediction needed, robust to a bad one). The predicted remaining time and its growth once a job
outlives its prediction are `psrtf`'s.

On a heterogeneous cluster where a job runs matters as much as when: a job whose predicted
remaining time exceeds `patience` seconds only takes a GPU type at least `min_speed` times as fast
(for it) as its fastest type, so long jobs wait for a fast type instead of spending days on a slow
one; shorter jobs take any type, fastest first. With `migrate` > 1, a running job past its lease
whose predicted remaining time exceeds `patience` moves to a type where it runs at least `migrate`
times as fast, when that type has room left after the decision (Gavel gets most of its gain on
Philly by moving long jobs off slow GPUs; here only the jobs the predictor expects to stay long
pay the restart overhead).

Which type first: by default each job's own fastest. With `advantage` a > 0, types are ordered by
the job's speed there over the average arrived job's speed there, to the power a: a job that
loses little on a slow type (a recommendation model at 1.4x the reference on a K80) leaves the
fast types to jobs that lose most without them (a ResNet-18 at 0.09x), as Gavel's allocation
does by solving its LP. At a = 1 the order is pure comparative advantage; in between, a blend.
The averages are refreshed at the 1st, 2nd, 4th, ... 64th arrival and every 64th after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from kaon.core.placement import FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Preempt, SchedulerView, Start
from kaon.policy.psrtf import Psrtf, predicted_total
from kaon.policy.registry import params_spec, register
from kaon.policy.running_table import RunningTable
from kaon.sim.state import JobState, JobStatus


FEATURES = ("log_remaining_s", "log1p_attained_gpu_s", "log_gpus", "log_p90_over_p10")
"""The rank's features, one weight each (`w_remaining`, `w_attained`, `w_gpus`, `w_uncertainty`)."""


@register
class Scored(Psrtf):
    name = "scored"
    summary = "preemptive rank by weighted predicted remaining, attained service, GPUs, uncertainty (learned by `kaon train --algo es`)"

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        model: str | None = None,
        refit_every: int = 2000,
        min_history: int = 100,
        lease: float = 360.0,
        growth: float = 2.0,
        w_remaining: float = 1.0,
        w_attained: float = 0.0,
        w_gpus: float = 1.0,
        w_uncertainty: float = 0.0,
        patience: float = math.inf,
        min_speed: float = 0.0,
        quantum: float = 1800.0,
        migrate: float = 0.0,
        advantage: float = 0.0,
    ) -> None:
        super().__init__(
            placement=placement, model=model, refit_every=refit_every, min_history=min_history,
            lease=lease, growth=growth,
        )
        if not patience > 0:
            raise ValueError(f"patience must be > 0 seconds, got {patience}")
        if not 0 <= min_speed <= 1:
            raise ValueError(f"min_speed must be in [0, 1], got {min_speed}")
        if not quantum > 0:
            raise ValueError(f"quantum must be > 0 seconds, got {quantum}")
        if not (migrate == 0 or migrate > 1):
            raise ValueError(f"migrate must be 0 (off) or a speed-up > 1, got {migrate}")
        if not 0 <= advantage <= 1:
            raise ValueError(f"advantage must be in [0, 1], got {advantage}")
        self.migrate, self.advantage = migrate, advantage
        self._speed_sum: np.ndarray | None = None
        self._speed_count: np.ndarray | None = None
        self._norm: np.ndarray | None = None
        """Per type, the average arrived job's speed there, to the power `advantage` (None: off)."""
        self._norm_version = 0
        self.weights = (w_remaining, w_attained, w_gpus, w_uncertainty)
        self.patience, self.min_speed, self.quantum = patience, min_speed, quantum
        self._orders: dict[int, tuple[tuple[int, float, bool, int], list[int], bool]] = {}
        self._type_total: np.ndarray | None = None
        self.table = RunningTable()
        """The running jobs' rank inputs as arrays (`kaon.policy.running_table`)."""
        self._derived: tuple[tuple[float, int], np.ndarray, np.ndarray] | None = None
        """(now, table version), every slot's rank key and its next prediction step: one decision
        asks for both several times (contenders, ranks, wake-up)."""

    def left(self, job: JobState, executed: float) -> float:
        """Predicted remaining wall seconds of `job` after `executed` seconds of running."""
        return max(predicted_total(self._estimates[job.index], executed, self.growth) - executed, self.min_remaining)

    def features(self, job: JobState, executed: float, attained: float) -> tuple[float, float, float, float]:
        """The rank's features, in `FEATURES` order. A job started while nobody waited has no
        estimate yet (they are batched); it is made here when asked (an explanation)."""
        if job.index not in self._estimates:
            self._estimates[job.index] = self.estimator.estimate_many([job])[0]
        est = self._estimates[job.index]
        return (
            math.log(self.left(job, executed)),
            math.log1p(attained),
            math.log(job.num_gpus),
            math.log(max(est.p90, 1.0) / max(est.p10, 1.0)),
        )

    def score(self, job: JobState, executed: float, attained: float) -> float:
        w_r, w_a, w_g, w_u = self.weights
        f_r, f_a, f_g, f_u = self.features(job, executed, attained)
        return w_r * f_r + w_a * f_a + w_g * f_g + w_u * f_u

    def pending_key(self, job: JobState) -> float:
        return self.score(job, job.executed, job.attained)

    def _state(self, jobs: Sequence[JobState], now: float) -> tuple[np.ndarray, ...]:
        """Executed wall s, attained GPU-s, GPUs, point, p10 and p90 of running `jobs` at `now`,
        as arrays: ranking hundreds of running jobs at every event is the policy's hot path."""
        est = self._estimates
        running = JobStatus.RUNNING
        rows = np.array(
            [(j.executed, j.attained, now - j.run_start if j.status is running else 0.0, j.spec.num_gpus,
              e.point, e.p10, e.p90)
             for j in jobs for e in (est[j.index],)],
            dtype=np.float64,
        ).reshape(len(jobs), 7)
        ran = rows[:, 2]
        gpus = rows[:, 3]
        return rows[:, 0] + ran, rows[:, 1] + ran * gpus, gpus, rows[:, 4], rows[:, 5], rows[:, 6]

    def _totals(self, executed: np.ndarray, point: np.ndarray, p90: np.ndarray) -> np.ndarray:
        """`predicted_total` over arrays (the same steps: point, p90, then p90 x growth^n)."""
        g = self.growth
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = np.floor(np.log(np.maximum(executed, p90) / p90) / math.log(g)) + 1
        grown = p90 * g**steps
        grown = np.where(grown > executed, grown, grown * g)
        return np.where(executed < point, point, np.where(executed < p90, p90, grown))

    def _keys(self, executed: np.ndarray, attained: np.ndarray, gpus: np.ndarray, point: np.ndarray,
              p10: np.ndarray, p90: np.ndarray) -> np.ndarray:
        left = np.maximum(self._totals(executed, point, p90) - executed, self.min_remaining)
        w_r, w_a, w_g, w_u = self.weights
        with np.errstate(invalid="ignore"):
            return (
                w_r * np.log(left) + w_a * np.log1p(attained) + w_g * np.log(gpus)
                + w_u * np.log(np.maximum(p90, 1.0) / np.maximum(p10, 1.0))
            )

    def _sync(self) -> bool:
        """Fill in estimates made since their jobs started; True when the table holds exactly the
        running jobs and all their estimates (else the callers fall back to the jobs themselves)."""
        for job in self.table.missing():
            est = self._estimates.get(job.index)
            if est is not None:
                self.table.set_estimate(job, est)
        return not self.table.missing()

    def _table_view(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Every slot's rank key and next prediction step at `now` (NaN for empty slots)."""
        key = (now, self.table.version)
        if self._derived is None or self._derived[0] != key:
            executed, attained, gpus, point, p10, p90 = self.table.at(now)
            steps = now + self._totals(executed, point, p90) - executed
            self._derived = (key, self._keys(executed, attained, gpus, point, p10, p90), steps)
        return self._derived[1], self._derived[2]

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[float]:
        if not jobs:
            return []
        if self._sync() and len(jobs) <= len(self.table):
            slots = [self.table.slot.get(j.index, -1) for j in jobs]
            if min(slots) >= 0:
                return self._table_view(now)[0][slots].tolist()
        return self._keys(*self._state(jobs, now)).tolist()

    def contenders(self, running: Sequence[JobState], now: float, head: float) -> list:
        """As `PriorityPolicy.contenders`, from the table: one numpy pass over the running jobs."""
        if not self._sync() or len(running) != len(self.table):
            return super().contenders(running, now, head)
        t = self.table
        keys = self._table_view(now)[0]
        with np.errstate(invalid="ignore"):
            sel = np.flatnonzero(t.active & (t.data[2] + self.lease <= now) & (keys > head))
        sel = sel[np.lexsort((np.array([t.jobs[i].index for i in sel], dtype=np.int64), keys[sel]))]  # type: ignore[union-attr]
        return [(k, job.index, job) for k, job in zip(keys[sel].tolist(), (t.jobs[i] for i in sel))]  # type: ignore[union-attr]

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """A prediction step (as `psrtf`), or at the latest one `quantum` on: with attained service
        in the rank, running jobs age continuously and are re-ranked at least that often."""
        wake = now + self.quantum
        started = [s.job for s in decision.starts]
        if self._sync() and len(running) == len(self.table):
            steps = self._table_view(now)[1].copy()
            gone = [self.table.slot[a.job.index] for a in decision.preempts if a.job.index in self.table.slot]
            steps[gone] = np.nan
            if np.isfinite(steps).any():
                wake = min(wake, float(np.nanmin(steps)))
            after = started
        else:
            after, _ = self.running_after(running, decision, now)
        if after:
            executed, _, _, point, _, p90 = self._state(after, now)
            wake = min(wake, float((now + self._totals(executed, point, p90) - executed).min()))
        return wake

    def _wake(self, running: list[JobState], decision: Decision, now: float) -> float | None:
        """As `PriorityPolicy._wake`, the lease ends read from the table."""
        if self.lease <= 0 or not self._sync() or len(running) != len(self.table):
            return super()._wake(running, decision, now)
        ends = self.table.data[2] + self.lease
        gone = [self.table.slot[a.job.index] for a in decision.preempts if a.job.index in self.table.slot]
        ends[gone] = np.nan
        with np.errstate(invalid="ignore"):
            live = ends[ends > now]
        wake = float(live.min()) if len(live) else math.inf
        if decision.starts:
            wake = min(wake, now + self.lease)
        crossing = self.next_change(running, decision, now)
        if crossing is not None:
            wake = min(wake, max(crossing, float(np.nextafter(now, np.inf))))
        return wake if wake != math.inf else None

    def job_started(self, job: JobState, now: float) -> None:
        super().job_started(job, now)
        self.table.add(job, self._estimates.get(job.index))

    def job_preempted(self, job: JobState, now: float) -> None:
        self.table.remove(job)
        super().job_preempted(job, now)

    def type_order(self, job: JobState, capacity: FreeCapacity) -> Sequence[int]:
        """Fastest first among the types the job may take now (see the module doc). The walk asks
        this for every waiting job it visits, so a waiting job's answer is kept while it waits
        (its speeds and predicted remaining time do not change then, the average speeds only
        at the arrivals `_observe_speeds` names); only ties are re-ordered by free GPUs at each
        call, as `Policy.type_order` does."""
        # an estimate may arrive, and the average speeds move, while it waits
        key = (job.index, job.executed, job.index in self._estimates, self._norm_version)
        cached = self._orders.get(job.index)
        if cached is None or cached[0] != key:
            cached = (key, *self._allowed_order(job, capacity))
            self._orders[job.index] = cached
        _, order, tied = cached
        if not tied:
            return order
        allowed = set(order)
        return [t for t in super().type_order(job, capacity) if t in allowed]

    def _allowed_order(self, job: JobState, capacity: FreeCapacity) -> tuple[list[int], bool]:
        # How good each type is for this job: its speed there, or with `advantage` its speed
        # over the average job's there. `min_speed` applies to the same measure.
        merit = job.speeds if self._norm is None else job.speeds / self._norm
        allowed = job.speeds > 0
        if self.min_speed > 0 and job.index in self._estimates and self.left(job, job.executed) > self.patience:
            if self._type_total is None:
                self._type_total = capacity.cluster.gpus_per_type()
            # Relative to the best type that could ever hold the job, or a job too large for
            # its best type would wait forever.
            holds = (self._type_total >= job.num_gpus) & allowed
            allowed &= merit >= self.min_speed * float(np.max(merit[holds], initial=0.0))
        types = np.flatnonzero(allowed)
        order = types[np.argsort(-merit[types], kind="stable")].tolist()
        tied = len(np.unique(merit[types])) < len(types)
        return order, tied

    def job_arrived(self, job: JobState, now: float) -> None:
        if self.advantage > 0 and len(job.speeds) > 1:
            self._observe_speeds(job.speeds)
        super().job_arrived(job, now)

    def _observe_speeds(self, speeds: np.ndarray) -> None:
        if self._speed_sum is None:
            self._speed_sum, self._speed_count = np.zeros(len(speeds)), np.zeros(len(speeds))
        assert self._speed_count is not None
        self._speed_sum += speeds
        self._speed_count += speeds > 0
        n = int(self._speed_count.max())
        if n & (n - 1) == 0 and n <= 64 or n % 64 == 0:
            mean = self._speed_sum / np.maximum(self._speed_count, 1)
            self._norm = np.where(mean > 0, mean, 1.0) ** self.advantage
            self._norm_version += 1

    def job_finished(self, job: JobState, now: float) -> None:
        self._orders.pop(job.index, None)
        self.table.remove(job)
        super().job_finished(job, now)

    def decide(self, view: SchedulerView) -> Decision:
        decision = super().decide(view)
        if self.migrate > 0 and len(view.cluster.gpu_types) > 1:
            self._migrations(view, decision)
        return decision

    def _migrations(self, view: SchedulerView, decision: Decision) -> None:
        """Add moves (a preempt and a start in one decision) of long jobs to much faster types."""
        cap = view.capacity.copy()
        gone = {a.job.index for a in decision.preempts}
        for a in decision.preempts:
            cap.release(a.job.placement)  # type: ignore[arg-type]
        for s in decision.starts:
            cap.allocate(s.placement)
        free = cap.free_per_type
        if not free.any():
            return
        now = view.now
        # Candidates, all at once: past their lease, with a type at least `migrate` times faster
        # that has room now, and predicted to stay longer than `patience`.
        jobs = [j for j in view.running.values() if j.index not in gone and now >= j.run_start + self.lease]
        if not jobs:
            return
        speeds = np.array([j.speeds for j in jobs])
        gpus = np.array([j.spec.num_gpus for j in jobs])
        here = speeds[np.arange(len(jobs)), [j.placement.gpu_type for j in jobs]]  # type: ignore[union-attr]
        best = np.where(free[None, :] >= gpus[:, None], speeds, 0.0).max(axis=1)
        faster = np.flatnonzero(best >= self.migrate * here)
        if not len(faster):
            return
        cands = [jobs[i] for i in faster if jobs[i].index in self._estimates]
        if not cands:
            return
        executed, _, _, point, _, p90 = self._state(cands, now)
        left = self._totals(executed, point, p90) - executed
        movers = [(-lv, j.index, j) for j, lv in zip(cands, left.tolist()) if lv > self.patience]
        for _, _, job in sorted(movers):
            here = job.speeds[job.placement.gpu_type]  # type: ignore[union-attr]
            types = [t for t in self.type_order(job, cap) if job.speeds[t] >= self.migrate * here]
            target = cap.place(job.num_gpus, types, self.placement) if types else None
            if target is None:
                continue
            cap.allocate(target)
            decision.preempts.append(Preempt(job))
            decision.starts.append(Start(job, target))


@dataclass(frozen=True, slots=True)
class ScoredParams:
    """The parameters `kaon train --algo es` learns for `scored` (its keyword arguments of the same names)."""

    w_remaining: float = 1.0
    w_attained: float = 0.0
    w_gpus: float = 1.0
    w_uncertainty: float = 0.0
    patience: float = 3600.0
    min_speed: float = 0.5
    migrate: float = 1.5
    advantage: float = 0.5

    def spec(self, model: str | None = None) -> str:
        """The policy spec string (`scored:...`), with `model=DIR` when given."""
        return params_spec(Scored.name, self, model)

    def policy(self, model: str | None) -> Scored:
        return Scored(model=model, **asdict(self))
