"""Shared machinery of the priority schedulers (LAS, Tiresias, Gittins, SRTF, and non-preemptive SJF).

A priority policy only says how jobs rank: a key for a pending job (fixed while it waits, so the
pending queue is a sorted structure kept up to date by the `job_*` hooks, never re-sorted) and keys
for the running jobs at `now` (a few hundred at most). `PriorityPolicy.decide` then does what every
such scheduler does (Tiresias' simulator, `run_sim.py::dlas_sim_jobs`, walks its queues the same
way):

1. Running jobs still inside their minimum lease are pinned: their GPUs are taken first.
2. The other running jobs and the pending queue are merged in priority order (a running job wins a
   tie, so nobody is preempted to restart an equal) while a per-GPU-type budget lasts. A running
   job keeps its GPUs if its type still has budget; a pending job takes budget on the first type,
   best first, that has enough. A job that does not fit is passed over, so smaller jobs behind it
   backfill: the walk is work-conserving.
3. Chosen pending jobs are placed in priority order; for each, only as many passed-over running
   jobs of its type are preempted as it needs, lowest priority first, and a victim whose GPUs were
   not used after all is kept running. Nobody is preempted for a job that is then not placed.

The walk visits the pending queue through `PendingQueue.walk`, which buckets jobs by GPU count and
drops a whole bucket once the budget left cannot hold its jobs: with thousands of jobs waiting, a
decision costs the jobs it starts plus the running jobs, not the queue length.

`Decision.wake_at` is the next instant the order can change while jobs wait: the earliest lease
expiry or whatever crossing the subclass reports (`next_change`).
"""

from __future__ import annotations

import heapq
from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
from sortedcontainers import SortedList

from kaon.core.placement import FreeCapacity, PlacementStrategy
from kaon.policy.base import Decision, Policy, Preempt, SchedulerView, Start
from kaon.sim.state import JobState

Entry = tuple[Any, int, JobState]
"""(key, job index, job): the index breaks ties (arrival order), so the job is never compared."""


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

    def next_change(
        self, running: Sequence[JobState], lease_ends: Sequence[float], preempted: Sequence[JobState], now: float
    ) -> float | None:
        """The next instant after `now` the order may change other than by a lease expiry or an
        arrival or finish (a threshold crossing); `running` are the jobs running after this
        decision, `preempted` those it sends back to the queue. None: never."""
        return None

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
        budget = view.cluster.gpus_per_type().tolist()
        running = list(view.running.values())
        keys = self.running_keys(running, now) if running else ()
        contenders: list[Entry] = []
        for job, key in zip(running, keys):
            assert job.placement is not None
            if now < job.run_start + self.lease:
                budget[job.placement.gpu_type] -= job.num_gpus
            else:
                contenders.append((key, job.index, job))
        contenders.sort()

        dropped: list[JobState] = []
        chosen: list[tuple[JobState, int]] = []
        ci = 0

        def claim(job: JobState) -> None:
            t = job.placement.gpu_type  # type: ignore[union-attr]
            if budget[t] >= job.num_gpus:
                budget[t] -= job.num_gpus
            else:
                dropped.append(job)

        for pkey, _, pjob in self.queue.walk(lambda: max(budget)):
            while ci < len(contenders) and contenders[ci][0] <= pkey:
                claim(contenders[ci][2])
                ci += 1
            t = self._budget_type(pjob, budget, view.capacity)
            if t is not None:
                budget[t] -= pjob.num_gpus
                chosen.append((pjob, t))
        for _, _, job in contenders[ci:]:
            claim(job)

        decision = Decision()
        released: set[int] = set()
        if chosen:
            cap = view.capacity.copy()
            victims: dict[int, list[JobState]] = {}
            for job in dropped:
                victims.setdefault(job.placement.gpu_type, []).append(job)  # type: ignore[union-attr]
            for job, t in chosen:
                pool = victims.get(t, [])
                while cap.free_per_type[t] < job.num_gpus and pool:
                    victim = pool.pop()
                    cap.release(victim.placement)  # type: ignore[arg-type]
                    released.add(victim.index)
                p = cap.place(job.num_gpus, (t,), self.placement)
                if p is None:
                    continue
                cap.allocate(p)
                decision.starts.append(Start(job, p))
            for job in dropped:
                if job.index in released and self._fits_back(cap, job):
                    cap.allocate(job.placement)  # type: ignore[arg-type]
                    released.discard(job.index)
            decision.preempts = [Preempt(j) for j in dropped if j.index in released]
        if len(self.queue) + len(decision.preempts) > len(decision.starts):
            decision.wake_at = self._wake(running, decision, now)
        return decision

    @staticmethod
    def _fits_back(cap: FreeCapacity, job: JobState) -> bool:
        p = job.placement
        assert p is not None
        return bool(np.all(cap.free[list(p.nodes)] >= np.asarray(p.gpus)))

    def _wake(self, running: list[JobState], decision: Decision, now: float) -> float | None:
        preempted = [a.job for a in decision.preempts]
        gone = {j.index for j in preempted}
        after = [j for j in running if j.index not in gone]
        lease_ends = [j.run_start + self.lease for j in after]
        after += [s.job for s in decision.starts]
        lease_ends += [now + self.lease] * len(decision.starts)
        times = [t for t in lease_ends if t > now]
        crossing = self.next_change(after, lease_ends, preempted, now)
        if crossing is not None:
            times.append(max(crossing, float(np.nextafter(now, np.inf))))
        wake = min(times, default=None)
        return wake if wake is not None and wake != float("inf") else None
