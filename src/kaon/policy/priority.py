"""The shared machinery of priority schedulers: LAS, Tiresias, Gittins, SRTF and (non-preemptive) SJF.

A priority policy only says how jobs rank: a key for a pending job (fixed while it waits, so the
pending queue is a sorted structure kept up to date by the `job_*` hooks, never re-sorted) and keys
for the running jobs at `now` (a few hundred at most). `PriorityPolicy.decide` then does what every
such scheduler does (Tiresias' simulator, `run_sim.py::dlas_sim_jobs`, walks its queues the same
way):

1. Running jobs still inside their minimum lease are pinned: their GPUs are taken first.
2. Waiting jobs are walked in priority order against a per-GPU-type budget: the free GPUs plus
   those of the running jobs ranked behind the waiting job (a running job wins a tie, so nobody is
   preempted to restart an equal), minus what better waiting jobs already took. A waiting job takes
   budget on the first type, best first, that has enough; one that does not fit is passed over and
   smaller jobs behind it backfill, so the walk is work-conserving. The walk ends as soon as no
   waiting job could fit the budget left.
3. Per type, the lowest-ranked running jobs are preempted until the chosen jobs' GPUs are covered,
   and released one by one only while a chosen job still lacks room; a victim whose GPUs were not
   used after all keeps running. Nobody is preempted for a job that is then not placed.

The walk visits the pending queue through `PendingQueue.walk`, which buckets jobs by GPU count and
drops a whole bucket once the budget left cannot hold its jobs, and it only looks at running jobs
ranked behind the best waiting one (`contenders`): with thousands of jobs waiting and hundreds
running, a decision costs the jobs it starts and the running jobs it could preempt.

`Decision.wake_at` is the next instant the order can change while jobs wait: the earliest lease
expiry or whatever crossing the subclass reports (`next_change`).
"""

from __future__ import annotations

import heapq
import math
from abc import abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from operator import attrgetter, itemgetter
from typing import Any, ClassVar

import numpy as np
from sortedcontainers import SortedList

from kaon.core.placement import FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.sim.state import JobState

Entry = tuple[Any, int, JobState]
"""(key, job index, job): the index breaks ties (arrival order), so the job is never compared."""
_KEY, _JOB = itemgetter(0), itemgetter(2)
_GPUS, _TYPE = attrgetter("spec.num_gpus"), attrgetter("placement.gpu_type")


class PendingQueue:
    """Pending jobs in key order, bucketed by GPU count.

    `walk` yields jobs in key order but skips, without visiting them, every job larger than the room
    left; `ordered` is the plain key order (a FIFO head, a crossing search)."""

    __slots__ = ("_all", "_buckets", "_entries")

    def __init__(self) -> None:
        self._all: SortedList = SortedList()
        self._buckets: dict[int, SortedList] = {}
        self._entries: dict[int, Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job: JobState) -> bool:
        return job.index in self._entries

    def add(self, job: JobState, key: Any) -> None:
        if job.index in self._entries:
            raise ValueError(f"{job.job_id} is already queued")
        entry = (key, job.index, job)
        self._entries[job.index] = entry
        self._all.add(entry)
        bucket = self._buckets.get(job.num_gpus)
        if bucket is None:
            self._buckets[job.num_gpus] = bucket = SortedList()
        bucket.add(entry)

    def remove(self, job: JobState) -> None:
        entry = self._entries.pop(job.index)
        self._all.remove(entry)
        bucket = self._buckets[job.num_gpus]
        bucket.remove(entry)
        if not bucket:
            del self._buckets[job.num_gpus]

    def rekey(self, job: JobState, key: Any) -> None:
        self.remove(job)
        self.add(job, key)

    def key(self, job: JobState) -> Any:
        return self._entries[job.index][0]

    def rebuild(self, key: Callable[[JobState], Any]) -> None:
        """Recompute every key at once (after the ranking itself changed, e.g. a refitted model)."""
        entries = [(key(e[2]), e[1], e[2]) for e in self._all]
        self._entries = {e[1]: e for e in entries}
        self._all = SortedList(entries)
        by_size: dict[int, list[Entry]] = {}
        for e in entries:
            by_size.setdefault(e[2].num_gpus, []).append(e)
        self._buckets = {g: SortedList(es) for g, es in by_size.items()}

    def first_key(self) -> Any:
        return self._all[0][0]

    def ordered(self) -> Iterator[Entry]:
        return iter(self._all)

    def ceiling(self, key: Any) -> Any | None:
        """The smallest queued key >= `key`, or None."""
        i = self._all.bisect_left((key,))
        return self._all[i][0] if i < len(self._all) else None

    def walk(self, room: Callable[[], int]) -> Iterator[Entry]:
        """Entries in key order among jobs of at most `room()` GPUs; `room` is asked again before
        each entry and may only shrink, so a bucket dropped once never fits again."""
        limit = room()
        heap = [(b[0], g, iter(b)) for g, b in self._buckets.items() if g <= limit]
        heapq.heapify(heap)
        for item in heap:
            next(item[2])  # each iterator now points past the head held in the heap
        while heap:
            entry, g, it = heap[0]
            if g > room():
                heapq.heappop(heap)
                continue
            yield entry
            nxt = next(it, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt, g, it))


class PriorityPolicy(Policy):
    """A preemptive priority scheduler with a minimum lease. Subclasses rank jobs.

    `lease` (seconds) is how long a job keeps its GPUs once placed, whatever its rank: it bounds the
    churn a strict priority order causes when ranks move continuously (LAS) and amortises the
    restart overhead the engine charges per resumption."""

    preemptive: ClassVar[bool] = True

    def __init__(self, placement: PlacementStrategy = PlacementStrategy.PACKING, *, lease: float = 0.0) -> None:
        super().__init__(placement)
        if not lease >= 0:
            raise ValueError(f"lease must be >= 0 seconds, got {lease}")
        self.lease = lease
        self.queue = PendingQueue()

    # --- what a subclass defines -------------------------------------------------------------

    @abstractmethod
    def pending_key(self, job: JobState) -> Any:
        """Rank of a waiting job, lower first; must not change while it waits (or be re-keyed)."""

    @abstractmethod
    def running_keys(self, jobs: Sequence[JobState], now: float) -> Sequence[Any]:
        """Ranks of running jobs at `now`, comparable with pending keys."""

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """The next instant after `now` the order may change other than by a lease expiry, an
        arrival or a finish (a threshold crossing), given the jobs `running` before `decision`.
        None: never."""
        return None

    def contenders(self, running: Sequence[JobState], now: float, head: Any) -> list[Entry]:
        """Running jobs past their lease ranked strictly behind `head` (the best waiting key), as
        (key, index, job), best first: the only ones a waiting job could take GPUs from."""
        lease = self.lease
        if lease > 0:  # ranks are only worth computing for jobs a waiting one may preempt
            running = [j for j in running if now >= j.run_start + lease]
        keys = self.running_keys(running, now)
        out = [(k, j.index, j) for j, k in zip(running, keys) if k > head]
        out.sort()
        return out

    # --- hooks ----------------------------------------------------------------------------------

    def job_arrived(self, job: JobState, now: float) -> None:
        self.queue.add(job, self.pending_key(job))

    def job_preempted(self, job: JobState, now: float) -> None:
        self.queue.add(job, self.pending_key(job))

    def job_started(self, job: JobState, now: float) -> None:
        self.queue.remove(job)

    # --- the decision ---------------------------------------------------------------------------

    def _budget_type(self, job: JobState, budget: list[int], capacity: FreeCapacity) -> int | None:
        g = job.num_gpus
        if len(budget) == 1:
            return 0 if budget[0] >= g and job.speeds[0] > 0 else None
        for t in self.type_order(job, capacity):
            if budget[t] >= g:
                return t
        return None

    def decide(self, view: SchedulerView) -> Decision:
        if not self.queue:
            return Decision()
        now = view.now
        running = list(view.running.values())
        order = self.contenders(running, now, self.queue.first_key()) if running else []
        n_types = len(view.cluster.gpu_types)
        # claimed[t][i]: GPUs of type t held by the i best contenders (prefix sums, one numpy pass).
        jobs = list(map(_JOB, order))
        if not jobs:
            claimed = [[0]] * n_types
        elif n_types == 1:
            claimed = [[0, *accumulate(map(_GPUS, jobs))]]
        else:
            gpus = np.fromiter(map(_GPUS, jobs), np.int64, len(jobs))
            held = np.zeros((n_types, len(jobs) + 1), dtype=np.int64)
            held[np.fromiter(map(_TYPE, jobs), np.int64, len(jobs)), np.arange(1, len(jobs) + 1)] = gpus
            claimed = np.cumsum(held, axis=1).tolist()
        ckeys = list(map(_KEY, order))
        free = view.capacity.free_per_type.tolist()
        # Budget at each point of the walk: free GPUs, plus those of contenders ranked below it,
        # minus what the jobs chosen so far take. Running jobs ranked above it keep theirs.
        budget = [free[t] + claimed[t][-1] for t in range(n_types)]
        taken = [0] * n_types
        chosen: list[tuple[JobState, int]] = []
        ci = 0
        for pkey, _, pjob in self.queue.walk(lambda: max(budget)):
            hi = bisect_right(ckeys, pkey, ci)  # ties go to the running job
            if hi > ci:
                for t in range(n_types):
                    budget[t] -= claimed[t][hi] - claimed[t][ci]
                ci = hi
            t = self._budget_type(pjob, budget, view.capacity)
            if t is not None:
                budget[t] -= pjob.num_gpus
                taken[t] += pjob.num_gpus
                chosen.append((pjob, t))
        if not chosen:
            return Decision(wake_at=self._wake(running, Decision(), now))

        # Victims: per type, the lowest-ranked contenders until the chosen jobs' GPUs are covered.
        need = [taken[t] - free[t] for t in range(n_types)]
        victims: dict[int, list[JobState]] = {}
        for job in reversed(jobs):
            t = job.placement.gpu_type  # type: ignore[union-attr]
            if need[t] > 0:
                need[t] -= job.spec.num_gpus
                victims.setdefault(t, []).append(job)
                if max(need) <= 0:
                    break
        decision = Decision()
        cap = view.capacity.copy()
        released: list[JobState] = []
        for job, t in chosen:
            pool = victims.get(t, [])
            while cap.free_per_type[t] < job.num_gpus and pool:
                victim = pool.pop(0)
                cap.release(victim.placement)  # type: ignore[arg-type]
                released.append(victim)
            p = cap.place(job.num_gpus, (t,), self.placement)
            if p is None:
                continue
            cap.allocate(p)
            decision.starts.append(Start(job, p))
        for job in reversed(released):  # best first: a victim whose GPUs went unused keeps running
            if self._fits_back(cap, job):
                cap.allocate(job.placement)  # type: ignore[arg-type]
            else:
                decision.preempts.append(Preempt(job))
        if len(self.queue) + len(decision.preempts) > len(decision.starts):
            decision.wake_at = self._wake(running, decision, now)
        return decision

    @staticmethod
    def _fits_back(cap: FreeCapacity, job: JobState) -> bool:
        p = job.placement
        assert p is not None
        return bool(np.all(cap.free[list(p.nodes)] >= np.asarray(p.gpus)))

    def _wake(self, running: list[JobState], decision: Decision, now: float) -> float | None:
        wake = math.inf
        if self.lease > 0:
            # the earliest lease still running out: a job started now, or one of the running
            lease = self.lease
            gone = {a.job.index for a in decision.preempts}
            ends = [j.run_start + lease for j in running if j.run_start + lease > now and j.index not in gone]
            if decision.starts:
                ends.append(now + lease)
            wake = min(ends, default=math.inf)
        crossing = self.next_change(running, decision, now)
        if crossing is not None:
            wake = min(wake, max(crossing, float(np.nextafter(now, np.inf))))
        return wake if wake != math.inf else None

    def running_after(
        self, running: Sequence[JobState], decision: Decision, now: float
    ) -> tuple[list[JobState], list[float]]:
        """The jobs running once `decision` is applied (its starts last) and their lease ends."""
        gone = {a.job.index for a in decision.preempts}
        after = [j for j in running if j.index not in gone]
        ends = [j.run_start + self.lease for j in after]
        after += [s.job for s in decision.starts]
        ends += [now + self.lease] * len(decision.starts)
        return after, ends
