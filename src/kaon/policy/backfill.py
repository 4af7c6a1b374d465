"""`fifo-backfill`: FIFO with EASY backfilling.

Lifka, "The ANL/IBM SP scheduling system", JSSPP 1995; analysed by Mu'alem & Feitelson,
"Utilization, predictability, workloads, and user runtime estimates in scheduling the IBM SP2 with
backfilling", IEEE TPDS 2001. Jobs start in arrival order. On a heterogeneous cluster each goes
where it is estimated to finish first: on a type with room now, or on a busier faster type once
the running jobs' estimated ends free enough GPUs there. The first job whose best type is busy is
the head and gets a reservation there (its shadow time). A later job may start now only where it
also finishes first, and, on the reserved type, only if it ends (by its estimate) before the
shadow or uses GPUs the head will not need then ("extra" GPUs). The head is never delayed by a
backfilled job whose estimate holds. Non-preemptive.

The backfill scan visits only the queued jobs that could start: buckets of more GPUs than any
type has free are skipped whole, and so are the jobs that could only take the head's GPUs yet
would not end before its shadow (read off a per-type runtime order, `_BackfillScan`). With
thousands of jobs behind a blocked head a decision costs what can start, not the queue's length,
and the schedule is the one a scan of the whole queue makes.

Why finish-first and not the fastest free type (what strict `fifo` does): a job that takes free
slow GPUs while a faster type frees up soon can run many times longer; on Philly's heavy tail a
few week-long jobs sent to K80s dominated the mean JCT, and greedy backfilling, which starts more
jobs while the fast types are full, made fifo-backfill worse than fifo.

Runtime estimates come from a `RuntimeEstimator` (seconds on the reference type): `oracle` is
the true duration; `request` models user-requested limits with Mu'alem & Feitelson's f-model, a
per-job factor drawn uniformly from [1, `request_factor`] (deterministically from the job id),
since the bundled traces record no requests; `predicted` is the runtime predictor's point
estimate from the job's features at its arrival (`kaon.predict.online`): a saved model
(`model=DIR`) or, without one, a model fitted on this run's finished jobs, as `qssf` does. Any
other estimator plugs in through the positional `estimator` argument.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right, insort
from collections.abc import Iterator, Sequence
from itertools import islice
from operator import itemgetter

from sortedcontainers import SortedList

from kaon.core.job import PriorJob
from kaon.core.placement import FreeCapacity, Placement, PlacementStrategy
from kaon.policy.base import Decision, Policy, SchedulerView, Start
from kaon.policy.registry import register
from kaon.policy.runtime_estimates import Estimate, OracleEstimator, RequestEstimator, RuntimeEstimator
from kaon.predict.online import OnlineEstimator, OnlineRuntimeEstimator
from kaon.sim.state import JobState


_END = itemgetter(0)


Entry = tuple[float, int, JobState]
"""(submit time, job index, job): FIFO order, the index breaking ties so jobs are never compared."""
_LAST_ENTRY = (math.inf,)
"""Sorts after every entry: the upper end of a range of (runtime, entry) pairs."""


class _Waiting:
    """The queued jobs in FIFO order, bucketed by GPU count, and per GPU type and count by their
    estimated runtime there.

    The FIFO is what EASY walks. The buckets let a backfill scan skip every job larger than the
    room left, and the runtime order lets it skip the jobs that could only run on the head's GPUs
    yet would not end before its reservation: with the queue thousands long behind a blocked
    head, those are nearly all of it, and a scan that visited them cost milliseconds per decision.
    Each job's estimate is read once here, not at every visit."""

    __slots__ = ("ordered", "by_size", "by_runtime", "estimates", "_entries")

    def __init__(self, types: int) -> None:
        self.ordered: SortedList = SortedList()
        self.by_size: dict[int, SortedList] = {}
        self.by_runtime: list[dict[int, SortedList]] = [{} for _ in range(types)]
        """Per type, per GPU count: (estimate / speed there, entry) of the jobs that may run there."""
        self.estimates: dict[int, float] = {}
        self._entries: dict[int, tuple[Entry, list[tuple[int, tuple[float, Entry]]]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, job: JobState, estimate: float) -> None:
        if job.index in self._entries:
            raise ValueError(f"{job.job_id} is already queued")
        g = job.num_gpus
        entry = (job.spec.submit_time, job.index, job)
        runtimes = [(t, (estimate / s, entry)) for t, s in enumerate(job.speeds.tolist()) if s > 0]
        self._entries[job.index] = (entry, runtimes)
        self.estimates[job.index] = estimate
        self.ordered.add(entry)
        self.by_size.setdefault(g, SortedList()).add(entry)
        for t, item in runtimes:
            self.by_runtime[t].setdefault(g, SortedList()).add(item)

    def remove(self, job: JobState) -> None:
        entry, runtimes = self._entries.pop(job.index)
        del self.estimates[job.index]
        g = job.num_gpus
        self.ordered.remove(entry)
        _discard(self.by_size, g, entry)
        for t, item in runtimes:
            _discard(self.by_runtime[t], g, item)

    def shorter_than(self, t: int, g: int, limit: float) -> list[Entry]:
        """The queued jobs of `g` GPUs that would end within `limit` seconds on type `t`, in FIFO
        order."""
        pairs = self.by_runtime[t].get(g)
        if not pairs:
            return []
        return sorted(e for _, e in pairs.irange(maximum=(limit, _LAST_ENTRY)))


def _discard(lists: dict[int, SortedList], g: int, item: object) -> None:
    sl = lists[g]
    sl.remove(item)
    if not sl:
        del lists[g]


class _Reservation:
    __slots__ = ("gpu_type", "shadow", "extra")

    def __init__(self, gpu_type: int, shadow: float, extra: int) -> None:
        self.gpu_type = gpu_type
        self.shadow = shadow
        self.extra = extra


class _Profile:
    """When GPUs of each type free up, from the estimated ends of the running jobs (kept sorted
    per type by the policy's hooks) and of those started in this decision (a small overlay)."""

    __slots__ = ("running", "added")

    def __init__(self, running: list[SortedList]) -> None:
        self.running = running
        self.added: list[list[tuple[float, int]]] = [[] for _ in running]

    def add(self, end: float, t: int, gpus: int) -> None:
        insort(self.added[t], (end, gpus))

    def _ends(self, t: int) -> Iterator[tuple[float, int]]:
        """(end, GPUs released) on type `t`, earliest first. Each end frees at least one GPU, so
        a caller needing n GPUs reads at most n entries (plus ties)."""
        if not self.added[t]:
            return iter(self.running[t])
        return heapq.merge(self.running[t], self.added[t], key=_END)

    def earliest(self, t: int, gpus: int, free_now: int, now: float) -> float:
        """When `gpus` GPUs of type `t` are free if nothing else starts there; inf: never."""
        if free_now >= gpus:
            return now
        need = gpus - free_now
        for end, g, *_ in self._ends(t):
            need -= g
            if need <= 0:
                return max(now, end)
        return math.inf

    def free_at(self, t: int, when: float, free_now: int) -> int:
        """GPUs of type `t` free at `when`: those free now plus those of every job ended by then."""
        free = free_now
        for end, g, *_ in self._ends(t):
            if end > when:
                break
            free += g
        return free


class _BackfillScan:
    """The queued jobs a backfill scan must visit, in FIFO order.

    A job of g GPUs can only start where g GPUs are free now, so buckets larger than every type's
    free GPUs are dropped. When the head's reserved type is the only one with g free and g
    exceeds the reservation's extra GPUs, a job must also end before the shadow time there, by
    its unspread estimate (`_backfill`'s first test on that type): such a bucket is restricted to
    the jobs that short, read off the runtime order once per decision (the shadow and the reserved
    type are fixed; room and extra GPUs only shrink, so a bucket once restricted stays so). Every
    job skipped is one `_backfill` would turn down, so the schedule is the one a scan of the whole
    queue makes; what a decision costs is the jobs that could start, not the queue's length."""

    __slots__ = ("queue", "res", "limit", "room", "threshold", "heap", "_whole")

    def __init__(self, queue: _Waiting, res: _Reservation | None, now: float, cap: FreeCapacity) -> None:
        self.queue = queue
        self.res = res
        # `now + runtime > shadow` in floating point holds for any runtime past this limit: the
        # margin is far above rounding error and far below a runtime that matters.
        self.limit = math.inf if res is None else res.shadow - now + 1e-9 * (abs(res.shadow) + abs(now) + 1.0)
        free = cap.free_per_type.tolist()
        self.room = max(free)
        self.threshold = self._threshold(free)
        """Buckets above it are restricted: more GPUs than the reservation's extra and than any
        other type has free."""
        self.heap: list[tuple[Entry, int, Iterator[Entry]]] = []
        self._whole: set[int] = set()
        for g, bucket in queue.by_size.items():
            if g <= self.room:
                self._push(g, self._short(g, None) if g > self.threshold else iter(bucket))
        heapq.heapify(self.heap)

    def _threshold(self, free: list[int]) -> float:
        res = self.res
        if res is None:
            return math.inf
        return max(res.extra, max((f for t, f in enumerate(free) if t != res.gpu_type), default=0))

    def _short(self, g: int, after: Entry | None) -> Iterator[Entry]:
        assert self.res is not None
        short = self.queue.shorter_than(self.res.gpu_type, g, self.limit)
        return islice(short, 0 if after is None else bisect_right(short, after), None)

    def _push(self, g: int, rest: Iterator[Entry]) -> None:
        first = next(rest, None)
        if first is not None:
            self.heap.append((first, g, rest))
            if g <= self.threshold:
                self._whole.add(g)

    def __iter__(self) -> Iterator[Entry]:
        heap = self.heap
        while heap:
            entry, g, rest = heap[0]
            if g > self.room:
                heapq.heappop(heap)
                continue
            nxt = next(rest, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt, g, rest))
            yield entry

    def started(self, cap: FreeCapacity, entry: Entry) -> None:
        """`entry`'s job just started: less room, perhaps fewer extra GPUs, so buckets walked whole
        so far may now be restricted (from past `entry` on)."""
        free = cap.free_per_type.tolist()
        self.room = max(free)
        threshold = self._threshold(free)
        if threshold >= self.threshold:
            return
        self.threshold = threshold
        switched = {g for g in self._whole if g > threshold}
        self._whole -= switched
        switched = {g for g in switched if g <= self.room}  # the others are dropped anyway
        if not switched:
            return
        self.heap[:] = [item for item in self.heap if item[1] not in switched]  # the walk holds this list
        for g in switched:
            self._push(g, self._short(g, entry))
        heapq.heapify(self.heap)


@register
class FifoBackfill(Policy):
    name = "fifo-backfill"
    summary = "FIFO with EASY backfilling: later jobs start if they do not delay the head's reservation"

    def __init__(
        self,
        estimator: RuntimeEstimator | None = None,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        estimate: Estimate = Estimate.ORACLE,
        request_factor: float = 2.0,
        model: str | None = None,
    ) -> None:
        super().__init__(placement)
        self.estimate = Estimate(estimate)
        if model is not None and self.estimate is not Estimate.PREDICTED:
            raise ValueError("model=DIR is the predictor of estimate=predicted")
        self.online: OnlineEstimator | None = None
        """With `estimate=predicted`: the predictor, told of every arrival and finish."""
        if estimator is None and self.estimate is Estimate.PREDICTED:
            self.online = OnlineEstimator(model)
            estimator = OnlineRuntimeEstimator(self.online)
        elif estimator is None:
            estimator = OracleEstimator() if self.estimate is Estimate.ORACLE else RequestEstimator(request_factor)
        self.estimator = estimator
        self.queue = _Waiting(0)
        self._sizes: list[SortedList] = []
        """Per GPU type, the GPU counts of the queued jobs that may run there: when every type
        has fewer free GPUs than its smallest, nothing can start and a decision is free."""
        self._running: list[SortedList] = []
        """Per GPU type, (estimated end, GPUs, job index) of the jobs running there, earliest
        first: the EASY profile, kept by the hooks instead of rebuilt from all running jobs."""
        self._run_entry: dict[int, tuple[int, tuple[float, int, int]]] = {}

    def _types(self, job: JobState) -> None:
        if not self._sizes:
            self._sizes = [SortedList() for _ in job.speeds]
            self._running = [SortedList() for _ in job.speeds]
            self.queue = _Waiting(len(job.speeds))

    def _enqueue(self, job: JobState) -> None:
        self._types(job)
        self.queue.add(job, self.estimator.estimate(job))
        for t in job.speeds.nonzero()[0].tolist():
            self._sizes[t].add(job.num_gpus)

    def jobs_finished_before(self, prior: Sequence[PriorJob]) -> None:
        if self.online is not None:
            self.online.observe_prior(prior)

    def job_arrived(self, job: JobState, now: float) -> None:
        if self.online is not None:
            self.online.arrived(job, now)
        self._enqueue(job)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._stopped(job)
        self._enqueue(job)

    def job_started(self, job: JobState, now: float) -> None:
        work = self.queue.estimates[job.index]
        self.queue.remove(job)
        for t in job.speeds.nonzero()[0].tolist():
            self._sizes[t].remove(job.num_gpus)
        p = job.placement
        assert p is not None
        # A running job's estimated end is fixed: it progresses at `rate` from `progress_start`.
        done = job.spec.duration - job.remaining_at(now)
        entry = (self._end(work, max(now, job.progress_start), job.rate, done), job.num_gpus, job.index)
        self._running[p.gpu_type].add(entry)
        self._run_entry[job.index] = (p.gpu_type, entry)

    def job_finished(self, job: JobState, now: float) -> None:
        self._stopped(job)
        if self.online is not None:
            self.online.finished(job, now)

    def _stopped(self, job: JobState) -> None:
        t, entry = self._run_entry.pop(job.index)
        self._running[t].remove(entry)

    def _nothing_fits(self, cap: FreeCapacity) -> bool:
        """No queued job fits the free GPUs of any type it may use: O(types)."""
        free = cap.free_per_type.tolist()
        return all(not sizes or sizes[0] > f for sizes, f in zip(self._sizes, free))

    @staticmethod
    def _end(work: float, now: float, rate: float, ref_done: float) -> float:
        """Estimated end of a job of `work` reference-seconds given `ref_done` already done."""
        left = max(0.0, work - ref_done)
        return now + left / rate

    def _rate(self, job: JobState, p: Placement, cluster_slowdown: float) -> float:
        return float(job.speeds[p.gpu_type]) * (cluster_slowdown if p.spread else 1.0)

    def decide(self, view: SchedulerView) -> Decision:
        decision = Decision()
        if not self.queue or self._nothing_fits(view.capacity):
            return decision
        now = view.now
        cap = view.capacity.copy()
        slowdown = view.cluster.spread_slowdown
        per_type = view.cluster.gpus_per_type().tolist()
        profile = _Profile(self._running)
        res: _Reservation | None = None
        head: JobState | None = None
        # In order: each job goes where it finishes first, now or once GPUs free up; the first
        # one whose best type is busy is the head, reserved there.
        estimates = self.queue.estimates
        for _, _, job in self.queue.ordered:
            if cap.total_free == 0:
                return decision
            finish = self._finishes(job, estimates[job.index], cap, profile, per_type, now)
            t = min(range(len(finish)), key=finish.__getitem__)
            if finish[t] == math.inf:
                continue  # never placeable: the engine sets such jobs aside
            shadow = profile.earliest(t, job.num_gpus, int(cap.free_per_type[t]), now)
            p = cap.place_on_type(job.num_gpus, t, self.placement) if shadow == now else None
            if p is None:
                head = job
                if shadow > now:
                    extra = profile.free_at(t, shadow, int(cap.free_per_type[t])) - job.num_gpus
                    res = _Reservation(t, shadow, extra)
                break
            cap.allocate(p)
            decision.starts.append(Start(job, p))
            profile.add(self._end(estimates[job.index], now, self._rate(job, p, slowdown), 0.0), t, job.num_gpus)
        if head is None or cap.total_free == 0:
            return decision
        started = {s.job.index for s in decision.starts}
        scan = _BackfillScan(self.queue, res, now, cap)
        # Longest work (reference seconds) a job of a given speed row and size could do now and
        # still finish first here: jobs of one row and size differ only in work, so one bound per
        # group rejects most candidates at the cost of a comparison. Any start invalidates them.
        bounds: dict[tuple[int, int], float] = {}
        for entry in scan:
            job = entry[2]
            if job.index in started or job is head:
                continue
            key = (id(job.speeds), job.num_gpus)
            bound = bounds.get(key)
            if bound is None:
                bound = bounds[key] = self._work_bound(job, cap, profile, per_type, now)
            work = estimates[job.index]
            if work > bound * (1 + 1e-9):
                continue
            p = self._backfill(job, work, cap, res, profile, per_type, now, slowdown)
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))
                bounds.clear()
                scan.started(cap, entry)
        return decision

    @staticmethod
    def _work_bound(job: JobState, cap: FreeCapacity, profile: _Profile, per_type: list[int], now: float) -> float:
        """The most work a job of `job`'s speeds and size may have and still finish first on some
        type with room now: on a type t free now, work w finishes first iff, for every type u it
        could wait for, now + w / s_t <= earliest_u + w / s_u, which bounds w only where u is
        faster."""
        g = job.num_gpus
        speeds = job.speeds.tolist()
        free = cap.free_per_type.tolist()
        waits = [
            profile.earliest(u, g, free[u], now) if s > 0 and per_type[u] >= g else math.inf
            for u, s in enumerate(speeds)
        ]
        best = -math.inf
        for t, st in enumerate(speeds):
            if st <= 0 or free[t] < g:
                continue
            bound = math.inf
            for u, su in enumerate(speeds):
                if su > st and waits[u] < math.inf:
                    bound = min(bound, (waits[u] - now) / (1.0 / st - 1.0 / su))
            best = max(best, bound)
        return best

    @staticmethod
    def _finishes(
        job: JobState, work: float, cap: FreeCapacity, profile: _Profile, per_type: list[int], now: float
    ) -> list[float]:
        """Estimated finish of `job` on each type if it starts there as soon as enough GPUs are
        free (inf where it may never run). Waiting for a faster type often beats taking slow
        GPUs free now: Philly's long jobs would run for weeks on a K80."""
        g = job.num_gpus
        free = cap.free_per_type
        out = []
        for t, s in enumerate(job.speeds.tolist()):
            ok = s > 0 and per_type[t] >= g
            out.append(profile.earliest(t, g, int(free[t]), now) + work / s if ok else math.inf)
        return out

    def _backfill(
        self,
        job: JobState,
        work: float,
        cap: FreeCapacity,
        res: _Reservation | None,
        profile: _Profile,
        per_type: list[int],
        now: float,
        slowdown: float,
    ) -> Placement | None:
        """A placement for `job` now, or None: on a type where it finishes first (as for the
        head), and without delaying the head's reservation (EASY)."""
        g = job.num_gpus
        finish = self._finishes(job, work, cap, profile, per_type, now)
        best = min(finish)
        if best == math.inf:
            return None
        for t in sorted(range(len(finish)), key=finish.__getitem__):
            if finish[t] > best or cap.free_per_type[t] < g:
                break
            if res is not None and t == res.gpu_type and g > res.extra and finish[t] > res.shadow:
                continue  # even unspread it would run past the reservation, on the head's GPUs
            p = cap.place_on_type(g, t, self.placement)
            if p is None:
                continue
            if res is None or t != res.gpu_type:
                return p
            if self._end(work, now, self._rate(job, p, slowdown), 0.0) <= res.shadow:
                return p
            if g <= res.extra:
                res.extra -= g
                return p
        return None
