"""`QuotaPolicy`: fair-share quotas around any policy, in the simulator and in the service alike.

The inner policy keeps deciding *what* to run and where; the wrapper only decides *whether a queue
may have it*. It works in three steps per decision:

1. The inner policy sees only the pending jobs its queue could be granted now (a lazy filter, so a
   FIFO that stops at its first placement touches only the head), then decides.
2. Its starts are checked against the quotas in its order; within one queue, the queue's starts
   fill the queue's slots by `spec.priority` first. A start refused on its GPU type is placed on
   another type the queue still has quota for, if any.
3. Reclaim: a queue under its nominal share of a type, with a pending job that fits in that share,
   preempts the jobs of queues borrowing on that type, newest-started first, and the job takes
   their GPUs. Nothing is preempted unless that is enough for the job to start. The reclaiming job
   holds a reservation until it starts, so in the service (where a preempted job's GPUs free only
   when its process exits) a borrower cannot take the GPUs back in between.

Usage is counted from the hooks, so a job still stopping (service) keeps counting until it ends.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping

import numpy as np
from sortedcontainers import SortedList

from kaon.core.placement import CapacityError, FreeCapacity, Placement
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.quota.quotas import BoundQuotas, QuotaBook
from kaon.sim.state import JobState


class _Admissible(Mapping[str, JobState]):
    """`pending` restricted to jobs whose queue has room for them on some allowed type, evaluated
    lazily while the inner policy iterates."""

    def __init__(self, pending: Mapping[str, JobState], ok: Callable[[JobState], bool]) -> None:
        self._pending = pending
        self._ok = ok

    def __getitem__(self, key: str) -> JobState:
        job = self._pending[key]
        if not self._ok(job):
            raise KeyError(key)
        return job

    def __iter__(self) -> Iterator[str]:
        return (k for k, j in self._pending.items() if self._ok(j))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class QuotaPolicy(Policy):
    """Wraps `inner` so that no queue exceeds its quotas, and lenders reclaim what they lent."""

    name = "quota"
    summary = "Kueue-style fair-share quotas (nominal, borrowing and lending limits, reclaim) around a policy"

    def __init__(self, inner: Policy, quotas: QuotaBook) -> None:
        super().__init__(inner.placement)
        self.inner = inner
        self.quotas = quotas
        self.name = f"{inner.name}+quota"  # type: ignore[misc]
        self.preemptive = inner.preemptive  # type: ignore[misc]
        self._bound: BoundQuotas | None = None
        self._usage: np.ndarray | None = None
        self._holding: dict[str, tuple[int, int, int]] = {}
        """Running (or stopping) job -> (queue row, type, GPUs) it counts against."""
        self._seq = 0
        self._pending: dict[int, SortedList] = {}
        """Queue row -> pending (-priority, queue seq, job_id): who reclaims first."""
        self._pending_jobs: dict[str, tuple[int, tuple[int, int, str], JobState]] = {}
        self._running: dict[tuple[int, int], SortedList] = {}
        """(queue row, type) -> running (-start seq, job_id): newest-started first."""
        self._running_key: dict[str, tuple[int, str]] = {}
        self._reserved: dict[str, tuple[int, int, int]] = {}
        """Reclaiming job -> (queue row, type, GPUs) held for it until it starts."""

    # --- hooks: forwarded, and the incremental usage/queues kept ------------------------------

    def _row(self, job: JobState) -> int:
        if self._bound is not None:
            return self._bound.row(job.spec.queue)
        names = sorted(self.quotas.queues)
        return names.index(job.spec.queue) if job.spec.queue in self.quotas.queues else len(names)

    def _enqueue(self, job: JobState) -> None:
        self._seq += 1
        row = self._row(job)
        key = (-job.spec.priority, self._seq, job.job_id)
        self._pending.setdefault(row, SortedList()).add(key)
        self._pending_jobs[job.job_id] = (row, key, job)

    def _dequeue(self, job: JobState) -> None:
        entry = self._pending_jobs.pop(job.job_id, None)
        if entry is not None:
            self._pending[entry[0]].remove(entry[1])

    def _release(self, job: JobState) -> None:
        held = self._holding.pop(job.job_id, None)
        if held is None:
            return
        row, t, g = held
        assert self._usage is not None
        self._usage[row, t] -= g
        self._running[(row, t)].remove(self._running_key.pop(job.job_id))

    def job_arrived(self, job: JobState, now: float) -> None:
        self._enqueue(job)
        self.inner.job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        self._dequeue(job)
        self._reserved.pop(job.job_id, None)
        assert job.placement is not None
        if self._usage is None:
            self._usage = np.zeros((len(self.quotas.queues) + 1, len(job.speeds)), dtype=np.int64)
        row, t, g = self._row(job), job.placement.gpu_type, job.placement.num_gpus
        self._usage[row, t] += g
        self._holding[job.job_id] = (row, t, g)
        self._seq += 1
        key = (-self._seq, job.job_id)
        self._running.setdefault((row, t), SortedList()).add(key)
        self._running_key[job.job_id] = key
        self.inner.job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._release(job)
        self._enqueue(job)
        self.inner.job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self._release(job)
        self._dequeue(job)
        self._reserved.pop(job.job_id, None)
        self.inner.job_finished(job, now)

    def type_order(self, job: JobState, capacity: FreeCapacity) -> list[int]:
        return list(self.inner.type_order(job, capacity))

    # --- deciding -----------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        if self._bound is None:
            self._bound = self.quotas.bind(view.cluster)
        bq = self._bound
        if self._usage is None:
            self._usage = np.zeros(bq.nominal.shape, dtype=np.int64)
        usage = self._usage.copy()
        waiting = {j: r for j, r in self._reserved.items() if j in view.pending}
        for row, t, g in waiting.values():
            usage[row, t] += g

        room = self._room(bq, usage)

        def admissible(job: JobState) -> bool:
            row = self._row(job)
            held = waiting.get(job.job_id)
            if held is not None:
                return True
            return bool(np.any((job.speeds > 0) & (room[row] >= job.num_gpus)))

        inner = self.inner.decide(SchedulerView(view.now, _Admissible(view.pending, admissible), view.running, view.capacity, view.cluster))
        decision = Decision(preempts=list(inner.preempts), wake_at=inner.wake_at)
        cap = view.capacity.copy()
        gone: set[str] = set()
        for p in inner.preempts:
            gone.add(p.job.job_id)
            held = self._holding.get(p.job.job_id)
            if held is not None and p.job.placement is not None:
                usage[held[0], held[1]] -= held[2]
                cap.release(p.job.placement)
        started: set[str] = set()
        # Reserved reclaimers first: they already paid for their GPUs with preemptions.
        for job_id, (row, t, g) in waiting.items():
            job = view.pending[job_id]
            p = cap.place_on_type(g, t, self.placement) if cap.free_per_type[t] >= g else None
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))
                started.add(job_id)
        refused: list[Start] = []
        for s in self._priority_slots(inner.starts):
            if s.job.job_id in started:
                continue
            row, t, g = self._row(s.job), s.placement.gpu_type, s.placement.num_gpus
            if bq.admits(usage, row, t, g) and _allocate(cap, s.placement):
                usage[row, t] += g
                decision.starts.append(s)
                started.add(s.job.job_id)
            else:
                refused.append(s)
        for s in refused:
            row, g = self._row(s.job), s.job.num_gpus
            types = [t for t in self.inner.type_order(s.job, cap) if bq.admits(usage, row, t, g)]
            p = cap.place(g, types, self.placement)
            if p is not None:
                cap.allocate(p)
                usage[row, p.gpu_type] += g
                decision.starts.append(Start(s.job, p))
                started.add(s.job.job_id)
        self._reclaim(view, bq, usage, cap, decision, gone, started)
        return decision

    @staticmethod
    def _room(bq: BoundQuotas, usage: np.ndarray) -> np.ndarray:
        """GPUs each queue may still take per type: under its ceiling, and its own unused
        guaranteed part plus what is left of the shared pool."""
        own = np.maximum(bq.guaranteed - usage, 0)
        pool_left = bq.pool - bq.pool_draw(usage)
        return np.minimum(bq.ceiling - usage, own + pool_left[None, :])

    def _priority_slots(self, starts: list[Start]) -> list[Start]:
        """The inner order, with each queue's own slots refilled by its starts in priority order."""
        by_queue: dict[int, list[Start]] = {}
        for s in starts:
            by_queue.setdefault(self._row(s.job), []).append(s)
        ordered = {q: iter(sorted(ss, key=lambda s: -s.job.spec.priority)) for q, ss in by_queue.items()}
        return [next(ordered[self._row(s.job)]) for s in starts]

    def _reclaim(
        self,
        view: SchedulerView,
        bq: BoundQuotas,
        usage: np.ndarray,
        cap: FreeCapacity,
        decision: Decision,
        gone: set[str],
        started: set[str],
    ) -> None:
        """Lenders below nominal take back what borrowers hold (see the module docstring)."""
        borrowing = usage > bq.nominal
        types = np.flatnonzero(borrowing.any(axis=0))
        for t in types.tolist():
            for row in np.flatnonzero(usage[:, t] < bq.nominal[:, t]).tolist():
                job = self._reclaimer(row, t, int(bq.nominal[row, t] - usage[row, t]), view, started)
                if job is None:
                    continue
                victims = self._victims(bq, usage, cap, view, gone, row, t, job.num_gpus)
                if victims is None:
                    continue
                for v in victims:
                    vrow, vt, vg = self._holding[v.job_id]
                    usage[vrow, vt] -= vg
                    assert v.placement is not None
                    cap.release(v.placement)
                    gone.add(v.job_id)
                    decision.preempts.append(Preempt(v))
                usage[row, t] += job.num_gpus
                self._reserved[job.job_id] = (row, t, job.num_gpus)
                p = cap.place_on_type(job.num_gpus, t, self.placement)
                if p is not None:
                    cap.allocate(p)
                    decision.starts.append(Start(job, p))
                    started.add(job.job_id)

    def _reclaimer(self, row: int, t: int, share: int, view: SchedulerView, started: set[str]) -> JobState | None:
        """The queue's first pending job (priority, then queue order) that may run on `t` and fits
        in its unused nominal `share`."""
        for _, _, job_id in self._pending.get(row, ()):
            job = self._pending_jobs[job_id][2]
            if job_id in started or job_id in self._reserved or job_id not in view.pending:
                continue
            if job.num_gpus <= share and job.speeds[t] > 0:
                return job
        return None

    def _victims(
        self,
        bq: BoundQuotas,
        usage: np.ndarray,
        cap: FreeCapacity,
        view: SchedulerView,
        gone: set[str],
        row: int,
        t: int,
        gpus: int,
    ) -> list[JobState] | None:
        """Newest-started jobs of queues borrowing on `t` whose preemption lets `gpus` GPUs of
        queue `row` start there; None when even all of them would not be enough."""
        lists = [self._running[(r, t)] for r in range(bq.nominal.shape[0]) if r != row and (r, t) in self._running]
        trial_usage, trial_cap = usage.copy(), cap.copy()

        def enough() -> bool:
            return bq.admits(trial_usage, row, t, gpus) and trial_cap.place_on_type(gpus, t, self.placement) is not None

        if enough():
            return None  # nothing blocks it: whether it runs now is the inner policy's choice
        chosen: list[JobState] = []
        for _, job_id in heapq.merge(*lists):
            victim = view.running.get(job_id)
            vrow, _, vg = self._holding[job_id]
            if victim is None or job_id in gone or trial_usage[vrow, t] <= bq.nominal[vrow, t]:
                continue
            assert victim.placement is not None
            trial_usage[vrow, t] -= vg
            trial_cap.release(victim.placement)
            chosen.append(victim)
            if enough():
                return chosen
        return None


def _allocate(cap: FreeCapacity, p: Placement) -> bool:
    """Allocate `p` if it still fits (a refused start before it may have changed nothing, but a
    re-placed one may have taken its GPUs)."""
    try:
        cap.allocate(p)
    except CapacityError:
        return False
    return True
