"""`tiresias`: Tiresias' discretised two-dimensional LAS (2D-LAS) with starvation promotion.

Gu et al., "Tiresias: A GPU Cluster Manager for Distributed Deep Learning", NSDI'19; the rules
follow the authors' simulator (SymbioticLab/Tiresias `simulator/run_sim.py::dlas_sim_jobs`, the
`dlas-gpu` schedule):

- A job's service is its attained GPU-time (GPUs x seconds run). `thresholds` split it into
  `queues` priority queues; a new job enters queue 0 and a running job is demoted to the back of
  the next queue the moment its service reaches that queue's threshold. Higher queues always go
  first; a job that does not fit is passed over (fit-first), lower-queue jobs are preempted.
- Within a queue the simulator keeps a list in which, after every scheduling round, waiting jobs are
  moved behind running ones. The equivalent rank is (queue, class, time it entered the queue) with
  class 0 for a job running in its queue, 1 for one preempted after running in it (it resumes
  first), and 2 for one that has not run since it entered the queue (a new, promoted or
  just-demoted job). So a job never preempts another of its own queue, except a job demoted at this
  very instant, which joins the back of its new queue like the simulator's append.
- Starvation (`starve` > 0, the simulator's `solve_starvation`): a waiting job outside queue 0
  that has run since it last entered queue 0 is promoted to the back of queue 0 once its waiting
  time since then reaches `starve` x its running time since then; its service count restarts.
  The simulator's default (`dlas-gpu`) has no promotion, hence `starve=0`.
- Defaults: two queues split at 3250 GPU-seconds, the simulator's `queue_limit[0]`; no lease
  (the simulator preempts at any event).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from sortedcontainers import SortedList

from kaon.core.placement import PlacementStrategy
from kaon.policy.base import Decision, SchedulerView
from kaon.policy.priority import Entry, PriorityPolicy
from kaon.policy.registry import register
from kaon.sim.state import JobState

Rank = tuple[int, int, float]
RUNNING, RESUMING, WAITING = 0, 1, 2


@dataclass(slots=True)
class _QueueState:
    """Where a job stands in the queues, and what its promotion clock has counted."""

    queue: int
    entered: float
    cls: int = WAITING
    demoted_at: float = -1.0
    base_attained: float = 0.0
    base_executed: float = 0.0
    starved: float = 0.0
    pending_since: float | None = None
    epoch: int = 0
    demote_at: float = math.inf


@register
class Tiresias(PriorityPolicy):
    name = "tiresias"
    summary = "Tiresias 2D-LAS: queues by attained GPU-time, FIFO within a queue, optional starvation promotion"

    @classmethod
    def search_space(cls) -> dict[str, list[str]]:
        """Queue count and thresholds move together; thresholds are GPU-seconds spaced by 10x, as
        the paper's sensitivity study varies them (NSDI'19, section 6.5)."""
        first = (900.0, 3250.0, 3600.0 * 4, 3600.0 * 16)
        coupled = [f"2&{t:.0f}" for t in first]
        coupled += [f"3&{t:.0f};{t * 10:.0f}" for t in first]
        coupled += [f"4&{t:.0f};{t * 10:.0f};{t * 100:.0f}" for t in first]
        return {"queues&thresholds": coupled, "starve": ["0", "2", "8"], "lease": ["0", "360"]}

    def __init__(
        self,
        *,
        placement: PlacementStrategy = PlacementStrategy.PACKING,
        queues: int = 2,
        thresholds: tuple[float, ...] = (3250.0,),
        starve: float = 0.0,
        lease: float = 0.0,
    ) -> None:
        super().__init__(placement, lease=lease)
        thresholds = tuple(float(t) for t in thresholds)
        if queues < 1:
            raise ValueError(f"queues must be >= 1, got {queues}")
        if len(thresholds) != queues - 1:
            raise ValueError(
                f"thresholds needs queues-1 = {queues - 1} values (GPU-seconds, ';'-separated), got {len(thresholds)}"
            )
        if any(t <= 0 for t in thresholds) or any(b <= a for a, b in zip(thresholds, thresholds[1:])):
            raise ValueError(f"thresholds must be positive and strictly increasing, got {list(thresholds)}")
        if not starve >= 0:
            raise ValueError(f"starve must be >= 0 (0 disables promotion), got {starve}")
        self.queues = queues
        self.thresholds = thresholds
        self.starve = starve
        self._state: dict[int, _QueueState] = {}
        self._promotions: list[tuple[float, int, int, JobState]] = []
        self._demotions: list[tuple[float, int, int, JobState]] = []
        self._running: SortedList = SortedList()  # running jobs as (rank, index, job), best first
        self._ranked: dict[int, Entry] = {}
        self._fresh: list[JobState] = []  # demoted at the last decision: they join their queue's back

    # --- ranks ----------------------------------------------------------------------------------

    def _queue_of(self, service: float) -> int:
        return bisect_right(self.thresholds, service)

    def _demote(self, job: JobState, st: _QueueState, attained_now: float, now: float) -> None:
        """Move `job` (running until `now`) to the queue its service reached; it entered that queue
        when its service crossed the threshold, which is when it joined the back of it."""
        q = self._queue_of(attained_now - st.base_attained)
        if q > st.queue:
            crossed = self.thresholds[q - 1] + st.base_attained
            st.queue = q
            st.entered = now - (attained_now - crossed) / job.num_gpus
            st.demoted_at = now

    def _plan_demotion(self, job: JobState, st: _QueueState, now: float) -> None:
        """Record when running `job` next crosses a threshold, so ranks need no work until then."""
        if st.queue >= self.queues - 1:
            st.demote_at = math.inf
            return
        service = job.attained_at(now) - st.base_attained
        st.demote_at = now + (self.thresholds[st.queue] - service) / job.num_gpus
        heapq.heappush(self._demotions, (st.demote_at, job.index, st.epoch, job))

    def _rank_running(self, job: JobState, st: _QueueState, cls: int) -> None:
        old = self._ranked.pop(job.index, None)
        if old is not None:
            self._running.remove(old)
        entry = ((st.queue, cls, st.entered), job.index, job)
        self._ranked[job.index] = entry
        self._running.add(entry)

    def _unrank(self, job: JobState) -> None:
        self._running.remove(self._ranked.pop(job.index))

    def _demote_due(self, now: float) -> None:
        for job in self._fresh:
            if job.index in self._ranked:
                self._rank_running(job, self._state[job.index], RUNNING)
        self._fresh = []
        heap = self._demotions
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)
            if not self._live(item):
                continue
            job = item[3]
            st = self._state[job.index]
            # it is due: its service has reached the threshold, whatever the rounding says
            reached = max(job.attained_at(now), st.base_attained + self.thresholds[st.queue])
            self._demote(job, st, reached, now)
            self._plan_demotion(job, st, now)
            self._rank_running(job, st, WAITING)
            self._fresh.append(job)

    def pending_key(self, job: JobState) -> Rank:
        st = self._state[job.index]
        return (st.queue, st.cls, st.entered)

    def running_keys(self, jobs: Sequence[JobState], now: float) -> list[Rank]:
        return [self._ranked[j.index][0] for j in jobs]

    def contenders(self, running: Sequence[JobState], now: float, head: Rank) -> list[Entry]:
        """The tail of the maintained ranking behind `head`: ranks only move at demotions."""
        tail = self._running.islice(self._running.bisect_right((head, math.inf)))
        if self.lease > 0:
            return [e for e in tail if now >= e[2].run_start + self.lease]
        return list(tail)

    def next_change(self, running: Sequence[JobState], decision: Decision, now: float) -> float | None:
        """The next demotion of a running job (those started now plan theirs when they start) or
        the next starvation promotion."""
        times = []
        for heap in (self._demotions, self._promotions):
            while heap and not self._live(heap[0]):
                heapq.heappop(heap)
            if heap:
                times.append(heap[0][0])
        for start in decision.starts:
            job = start.job
            st = self._state[job.index]
            if st.queue < self.queues - 1:
                times.append(now + (self.thresholds[st.queue] - (job.attained - st.base_attained)) / job.num_gpus)
        return min(times, default=None)

    # --- promotion ------------------------------------------------------------------------------

    def _live(self, item: tuple[float, int, int, JobState]) -> bool:
        st = self._state.get(item[1])
        return st is not None and st.epoch == item[2]

    def _schedule_promotion(self, job: JobState, st: _QueueState) -> None:
        ran = job.executed - st.base_executed
        if self.starve > 0 and st.queue > 0 and ran > 0 and st.pending_since is not None:
            due = st.pending_since + self.starve * ran - st.starved
            heapq.heappush(self._promotions, (due, job.index, st.epoch, job))

    def _promote_due(self, now: float) -> None:
        heap = self._promotions
        while heap and heap[0][0] <= now:
            item = heapq.heappop(heap)
            if not self._live(item):
                continue
            due, _, _, job = item
            st = self._state[job.index]
            st.queue, st.cls, st.entered = 0, WAITING, due
            st.base_attained, st.base_executed = job.attained, job.executed
            st.starved, st.pending_since = 0.0, due
            st.epoch += 1
            self.queue.rekey(job, self.pending_key(job))

    def decide(self, view: SchedulerView) -> Decision:
        self._demote_due(view.now)
        self._promote_due(view.now)
        return super().decide(view)

    # --- hooks ----------------------------------------------------------------------------------

    def job_arrived(self, job: JobState, now: float) -> None:
        self._state[job.index] = _QueueState(queue=0, entered=now, pending_since=now)
        super().job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        st = self._state[job.index]
        if st.pending_since is not None and job.executed > st.base_executed:
            st.starved += now - st.pending_since
        st.pending_since = None
        st.epoch += 1
        self._plan_demotion(job, st, now)
        self._rank_running(job, st, RUNNING)
        super().job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        st = self._state[job.index]
        self._unrank(job)
        self._demote(job, st, job.attained, now)
        st.cls = WAITING if st.demoted_at == now else RESUMING
        st.pending_since = now
        st.epoch += 1
        self._schedule_promotion(job, st)
        super().job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self._unrank(job)
        del self._state[job.index]
