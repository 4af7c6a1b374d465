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
from collections.abc import Iterator, Mapping

import numpy as np
from sortedcontainers import SortedList

from kaon.core.placement import FreeCapacity
from kaon.policy.base import Decision, Policy, PolicyWrapper, Preempt, SchedulerView, Start
from kaon.quota.quotas import BoundQuotas, QuotaBook
from kaon.sim.state import JobState


class _Usage:
    """GPUs held per (queue row, type) while one decision is made, as plain ints, with each type's
    draw on the shared pool kept incrementally. `admits` runs for every proposed start and every
    candidate victim; on arrays of a few elements numpy's per-call overhead was most of its cost."""

    __slots__ = ("used", "draw", "bq")

    def __init__(self, bq: BoundQuotas, used: list[list[int]], draw: list[int]) -> None:
        self.bq = bq
        self.used = used
        self.draw = draw

    @classmethod
    def of(cls, bq: BoundQuotas, usage: np.ndarray) -> _Usage:
        return cls(bq, usage.tolist(), bq.pool_draw(usage).tolist())

    def copy(self) -> _Usage:
        return _Usage(self.bq, [row.copy() for row in self.used], self.draw.copy())

    def admits(self, q: int, t: int, gpus: int) -> bool:
        """`BoundQuotas.admits` on this usage."""
        used = self.used[q][t]
        if used + gpus > self.bq.ceiling_rows[q][t]:
            return False
        guaranteed = self.bq.guaranteed_rows[q][t]
        extra = max(used + gpus - guaranteed, 0) - max(used - guaranteed, 0)
        return extra == 0 or self.draw[t] + extra <= self.bq.pool_list[t]

    def add(self, q: int, t: int, gpus: int) -> None:
        """Take `gpus` (give back when negative)."""
        old = self.used[q][t]
        guaranteed = self.bq.guaranteed_rows[q][t]
        self.draw[t] += max(old + gpus - guaranteed, 0) - max(old - guaranteed, 0)
        self.used[q][t] = old + gpus

    def room(self) -> list[list[int]]:
        """GPUs each queue may still take per type: under its ceiling, and its own unused
        guaranteed part plus what is left of the shared pool."""
        bq = self.bq
        left = [p - d for p, d in zip(bq.pool_list, self.draw)]
        return [
            [min(c - u, max(g - u, 0) + pl) for u, c, g, pl in zip(used, ceiling, guaranteed, left)]
            for used, ceiling, guaranteed in zip(self.used, bq.ceiling_rows, bq.guaranteed_rows)
        ]

    def borrowing(self) -> list[tuple[int, list[int]]]:
        """(type, queue rows below their nominal there) for each type some queue borrows on."""
        nominal = self.bq.nominal_rows
        out = []
        for t in range(len(self.draw)):
            column = [(row[t], nom[t]) for row, nom in zip(self.used, nominal)]
            if any(u > n for u, n in column):
                out.append((t, [q for q, (u, n) in enumerate(column) if u < n]))
        return out


class _Pending:
    """One pending job as the wrapper tracks it: its queue row, where it stands in the view's
    pending order, the GPU types it may use, and its reclaim key."""

    __slots__ = ("job", "row", "pos", "types", "key")

    def __init__(self, job: JobState, row: int, pos: int, key: tuple[int, int, str]) -> None:
        self.job = job
        self.row = row
        self.pos = pos
        self.types = tuple(np.flatnonzero(job.speeds > 0).tolist())
        self.key = key


class _Admissible(Mapping[str, JobState]):
    """`pending` restricted, per queue, to its highest-priority jobs (then queue order) that fit
    in its room: each on some allowed type, and all of them together within the queue's room
    summed over types. Reserved reclaimers are always in. Order: the view's.

    Showing the inner policy every job whose queue had room for it alone let it fill the cluster
    with one queue's jobs when the queue could start only a few: those starts were refused
    afterwards, the GPUs they took in the inner policy's plan hid other queues' jobs until the
    next event, and placing them was most of a decision's time. Selecting walks each queue's
    priority list only until its room is spent, so a queue at its limit with thousands of waiting
    jobs costs nothing."""

    def __init__(
        self,
        pending: Mapping[str, JobState],
        by_priority: Mapping[int, SortedList],
        entries: Mapping[str, _Pending],
        room: list[list[int]],
        waiting: Mapping[str, object],
    ) -> None:
        self._pending = pending
        shown = {j: entries[j] for j in waiting if j in entries}
        for row, keys in by_priority.items():
            budget = sum(room[row])
            if budget <= 0:
                continue
            best: dict[tuple[int, ...], int] = {}
            for _, _, job_id in keys:
                e = entries[job_id]
                g = e.job.num_gpus
                if g > budget or job_id not in pending or job_id in shown:
                    continue
                fits = best.get(e.types)
                if fits is None:
                    fits = best[e.types] = max((room[row][t] for t in e.types), default=0)
                if g <= fits:
                    shown[job_id] = e
                    budget -= g
                    if budget == 0:
                        break
        self._order = sorted(shown, key=lambda k: shown[k].pos)
        self._shown = shown

    def __getitem__(self, key: str) -> JobState:
        if key not in self._shown:
            raise KeyError(key)
        return self._pending[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class QuotaPolicy(PolicyWrapper):
    """Wraps `inner` so that no queue exceeds its quotas, and lenders reclaim what they lent."""

    name = "quota"
    summary = "Kueue-style fair-share quotas (nominal, borrowing and lending limits, reclaim) around a policy"

    def __init__(self, inner: Policy, quotas: QuotaBook) -> None:
        super().__init__(inner)
        self.quotas = quotas
        self.name = f"{inner.name}+quota"  # type: ignore[misc]
        self._bound: BoundQuotas | None = None
        self._usage: np.ndarray | None = None
        self._holding: dict[str, tuple[int, int, int]] = {}
        """Running (or stopping) job -> (queue row, type, GPUs) it counts against."""
        self._seq = 0
        self._pos = 0
        """Position of the next job appended to the view's pending queue."""
        self._in_view_order = False
        """Whether `pos` follows the view's pending order; hooks replayed to build a policy (the
        service's reload) come in submission order instead, so the first decision renumbers."""
        self._pending: dict[int, SortedList] = {}
        """Queue row -> pending (-priority, queue seq, job_id): who reclaims first."""
        self._pending_jobs: dict[str, _Pending] = {}
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
        self._pos += 1
        row = self._row(job)
        e = _Pending(job, row, self._pos, (-job.spec.priority, self._seq, job.job_id))
        self._pending.setdefault(row, SortedList()).add(e.key)
        self._pending_jobs[job.job_id] = e

    def _dequeue(self, job: JobState) -> None:
        e = self._pending_jobs.pop(job.job_id, None)
        if e is not None:
            self._pending[e.row].remove(e.key)

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
        super().job_arrived(job, now)

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
        super().job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._release(job)
        self._enqueue(job)
        super().job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self._release(job)
        self._dequeue(job)
        self._reserved.pop(job.job_id, None)
        super().job_finished(job, now)

    def _follow_view_order(self, pending: Mapping[str, JobState]) -> None:
        """Renumber the pending jobs in the view's order (once, see `_in_view_order`)."""
        for pos, job_id in enumerate(pending, start=1):
            e = self._pending_jobs.get(job_id)
            if e is not None:
                e.pos = pos
        self._pos = len(pending)
        self._in_view_order = True

    # --- deciding -----------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        if self._bound is None:
            self._bound = self.quotas.bind(view.cluster)
        bq = self._bound
        if self._usage is None:
            self._usage = np.zeros(bq.nominal.shape, dtype=np.int64)
        if not self._in_view_order:
            self._follow_view_order(view.pending)
        usage = _Usage.of(bq, self._usage)
        waiting = {j: r for j, r in self._reserved.items() if j in view.pending}
        for row, t, g in waiting.values():
            usage.add(row, t, g)

        admissible = _Admissible(view.pending, self._pending, self._pending_jobs, usage.room(), waiting)
        inner = self.inner.decide(SchedulerView(view.now, admissible, view.running, view.capacity, view.cluster))
        decision = Decision(preempts=list(inner.preempts), wake_at=inner.wake_at)
        cap = view.capacity.copy()
        gone: set[str] = set()
        for p in inner.preempts:
            gone.add(p.job.job_id)
            held = self._holding.get(p.job.job_id)
            if held is not None and p.job.placement is not None:
                usage.add(held[0], held[1], -held[2])
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
            if usage.admits(row, t, g) and cap.try_allocate(s.placement):
                usage.add(row, t, g)
                decision.starts.append(s)
                started.add(s.job.job_id)
            else:
                refused.append(s)
        for s in refused:
            row, g = self._row(s.job), s.job.num_gpus
            if not any(usage.admits(row, t, g) for t in self._pending_jobs[s.job.job_id].types):
                continue  # the common case, a queue at its limit: skip the inner's type ranking
            types = [t for t in self.inner.type_order(s.job, cap) if usage.admits(row, t, g)]
            p = cap.place(g, types, self.placement)
            if p is not None:
                cap.allocate(p)
                usage.add(row, p.gpu_type, g)
                decision.starts.append(Start(s.job, p))
                started.add(s.job.job_id)
        self._reclaim(view, bq, usage, cap, decision, gone, started)
        return decision

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
        usage: _Usage,
        cap: FreeCapacity,
        decision: Decision,
        gone: set[str],
        started: set[str],
    ) -> None:
        """Lenders below nominal take back what borrowers hold (see the module docstring)."""
        for t, lenders in usage.borrowing():
            for row in lenders:
                job = self._reclaimer(row, t, bq.nominal_rows[row][t] - usage.used[row][t], view, started)
                if job is None:
                    continue
                victims = self._victims(bq, usage, cap, view, gone, row, t, job.num_gpus)
                if victims is None:
                    continue
                for v in victims:
                    vrow, vt, vg = self._holding[v.job_id]
                    usage.add(vrow, vt, -vg)
                    assert v.placement is not None
                    cap.release(v.placement)
                    gone.add(v.job_id)
                    decision.preempts.append(Preempt(v))
                usage.add(row, t, job.num_gpus)
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
            job = self._pending_jobs[job_id].job
            if job_id in started or job_id in self._reserved or job_id not in view.pending:
                continue
            if job.num_gpus <= share and job.speeds[t] > 0:
                return job
        return None

    def _victims(
        self,
        bq: BoundQuotas,
        usage: _Usage,
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
            return (
                trial_usage.admits(row, t, gpus)
                and trial_cap.free_per_type[t] >= gpus
                and trial_cap.place_on_type(gpus, t, self.placement) is not None
            )

        if enough():
            return None  # nothing blocks it: whether it runs now is the inner policy's choice
        nominal = bq.nominal_rows
        chosen: list[JobState] = []
        for _, job_id in heapq.merge(*lists):
            victim = view.running.get(job_id)
            vrow, _, vg = self._holding[job_id]
            if victim is None or job_id in gone or trial_usage.used[vrow][t] <= nominal[vrow][t]:
                continue
            assert victim.placement is not None
            trial_usage.add(vrow, t, -vg)
            trial_cap.release(victim.placement)
            chosen.append(victim)
            if enough():
                return chosen
        return None
