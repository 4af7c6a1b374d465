"""`PriorityPreemption`: a job's `priority` ranks it above every job of lower priority, whatever
the policy inside orders by; a job that cannot start otherwise preempts lower-priority jobs.

The inner policy keeps deciding among jobs of equal priority (FIFO, backfill, LAS, Gavel...). The
wrapper adds what a cluster's users expect from `--priority` (Kubernetes' PriorityClass, Slurm's
`preempt/priority` with `PreemptMode=REQUEUE`), in four rules per decision:

1. No inner preemption frees GPUs for lower-priority jobs only: an inner preempt of a job is kept
   only if the inner decision also starts a job of at least its priority.
2. Reserved jobs start first (rule 4), and GPUs they wait for are not given to jobs of lower
   priority.
3. Pending jobs the inner policy left waiting are walked highest priority first (then queue
   order). One that fits now starts now (a strict FIFO head of lower priority does not block it).
   One that does not fit takes GPUs from lower-priority jobs: this decision's starts first (they
   have not run yet), then running jobs, lowest priority first and, within one priority, the most
   recently started (least work lost). Victims are released one by one until the job fits, then
   those it turns out not to need are kept. Nothing is preempted unless the job then fits.
4. In the service a preempted job's GPUs free only when its processes exit, so the job that
   preempted holds a reservation (its GPU type and count) until it starts or every victim has
   stopped; in the simulator it starts in the same decision.

Jobs of one priority, the default, cost one comparison per decision: the inner decision is
returned as it is.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from sortedcontainers import SortedList

from kaon.core.placement import FreeCapacity, Placement
from kaon.policy.base import Decision, Policy, PolicyWrapper, Preempt, SchedulerView, Start
from kaon.sim.state import JobState


@dataclass(slots=True)
class _Reservation:
    """GPUs a job preempted for and waits on: `gpus` of type `gpu_type`, freed by `victims`."""

    priority: int
    gpu_type: int
    gpus: int
    victims: set[str] = field(default_factory=set)


class PriorityPreemption(PolicyWrapper):
    """Wraps `inner` so that higher-priority jobs go first and may preempt lower-priority ones."""

    name = "priority"
    summary = "jobs of higher priority start first and preempt lower-priority jobs, around a policy"

    def __init__(self, inner: Policy) -> None:
        super().__init__(inner)
        self.name = inner.name  # type: ignore[misc]  # always on in the service: not a policy of its own
        self._seq = 0
        self._pending: SortedList = SortedList()
        """(-priority, arrival seq, job_id) of every pending job: who goes first."""
        self._pending_key: dict[str, tuple[int, int, str]] = {}
        self._running: SortedList = SortedList()
        """(priority, -start seq, job_id) of every running (or stopping) job: who is preempted first."""
        self._running_key: dict[str, tuple[int, int, str]] = {}
        self._reserved: dict[str, _Reservation] = {}

    # --- hooks: forwarded, with the pending and running orders kept ---------------------------

    def _enqueue(self, job: JobState) -> None:
        self._seq += 1
        key = (-job.spec.priority, self._seq, job.job_id)
        self._pending.add(key)
        self._pending_key[job.job_id] = key

    def _dequeue(self, job: JobState) -> None:
        key = self._pending_key.pop(job.job_id, None)
        if key is not None:
            self._pending.remove(key)

    def _stopped(self, job: JobState) -> None:
        key = self._running_key.pop(job.job_id, None)
        if key is not None:
            self._running.remove(key)
        for r in self._reserved.values():
            r.victims.discard(job.job_id)

    def job_arrived(self, job: JobState, now: float) -> None:
        self._enqueue(job)
        super().job_arrived(job, now)

    def job_started(self, job: JobState, now: float) -> None:
        self._dequeue(job)
        self._reserved.pop(job.job_id, None)
        self._seq += 1
        key = (job.spec.priority, -self._seq, job.job_id)
        self._running.add(key)
        self._running_key[job.job_id] = key
        super().job_started(job, now)

    def job_preempted(self, job: JobState, now: float) -> None:
        self._stopped(job)
        self._enqueue(job)
        super().job_preempted(job, now)

    def job_finished(self, job: JobState, now: float) -> None:
        self._stopped(job)
        self._dequeue(job)
        self._reserved.pop(job.job_id, None)
        super().job_finished(job, now)

    # --- deciding -----------------------------------------------------------------------------

    def decide(self, view: SchedulerView) -> Decision:
        inner = self.inner.decide(view)
        if not self._reserved and not self._inverted(inner):
            return inner
        decision = Decision(wake_at=inner.wake_at)
        cap = view.capacity.copy()
        top_start = max((s.job.spec.priority for s in inner.starts), default=None)
        gone: set[str] = set()
        for p in inner.preempts:  # rule 1
            if top_start is not None and top_start >= p.job.spec.priority and p.job.placement is not None:
                decision.preempts.append(p)
                gone.add(p.job.job_id)
                cap.release(p.job.placement)
        started: set[str] = set()
        for job_id, r in sorted(self._reserved.items(), key=lambda item: -item[1].priority):  # rule 2
            job = view.pending.get(job_id)
            p = cap.place_on_type(r.gpus, r.gpu_type, self.placement) if job is not None and cap.free_per_type[r.gpu_type] >= r.gpus else None
            if p is not None:
                cap.allocate(p)
                decision.starts.append(Start(job, p))  # type: ignore[arg-type]
                started.add(job_id)
        for s in inner.starts:
            if s.job.job_id not in started and not self._withheld(s, cap, started) and cap.try_allocate(s.placement):
                decision.starts.append(s)
                started.add(s.job.job_id)
        _Ranking(self, view, decision, cap, gone, started).run()  # rule 3
        for job_id in [j for j, r in self._reserved.items() if not r.victims and j not in started]:
            del self._reserved[job_id]  # rule 4: its victims have stopped and it still does not fit
        return decision

    def _inverted(self, inner: Decision) -> bool:
        """Whether a waiting job outranks a running job or one the inner policy starts: only then
        can the rules change anything."""
        if not self._pending:
            return False
        top, lowest = -self._pending[0][0], -self._pending[-1][0]
        if inner.starts:
            lowest = min(lowest, min(s.job.spec.priority for s in inner.starts))
        if self._running:
            lowest = min(lowest, self._running[0][0])
        if lowest < top:
            return True
        return bool(inner.preempts) and lowest < max(p.job.spec.priority for p in inner.preempts)

    def _withheld(self, s: Start, cap: FreeCapacity, started: set[str]) -> bool:
        """Whether starting `s` would take GPUs a higher-priority reservation waits for."""
        t, waiting = s.placement.gpu_type, 0
        for job_id, r in self._reserved.items():
            if job_id not in started and r.gpu_type == t and r.priority > s.job.spec.priority:
                waiting += r.gpus
        return waiting > 0 and cap.free_per_type[t] - s.placement.num_gpus < waiting


class _Ranking:
    """Rule 3 for one decision: waiting jobs that outrank a waiting job, a running job or a start,
    highest first, each started now or on the GPUs of lower-priority jobs.

    The running jobs that may give way are listed once per decision (lowest priority, newest
    first, those still in the view), and a cursor skips the ones already preempted, so finding the
    lowest one left is amortised O(1) rather than a scan per waiting job."""

    def __init__(
        self, owner: PriorityPreemption, view: SchedulerView, decision: Decision, cap: FreeCapacity,
        gone: set[str], started: set[str],
    ) -> None:
        self.owner, self.view, self.decision, self.cap = owner, view, decision, cap
        self.gone, self.started = gone, started
        self.running = [k for k in owner._running if k[2] in view.running and k[2] not in gone]
        self.first = 0
        self.start_levels = Counter(s.job.spec.priority for s in decision.starts)

    def lowest(self, default: int) -> int:
        """The lowest priority among the jobs that could still give way (or `default`)."""
        while self.first < len(self.running) and self.running[self.first][2] in self.gone:
            self.first += 1
        lowest = default
        if self.first < len(self.running):
            lowest = min(lowest, self.running[self.first][0])
        if self.start_levels:
            lowest = min(lowest, min(self.start_levels))
        return lowest

    def start(self, job: JobState, p: Placement) -> None:
        self.decision.starts.append(Start(job, p))
        self.started.add(job.job_id)
        self.start_levels[job.spec.priority] += 1

    def unstart(self, job: JobState) -> None:
        self.decision.starts = [s for s in self.decision.starts if s.job.job_id != job.job_id]
        self.started.discard(job.job_id)
        self.start_levels[job.spec.priority] -= 1
        if not self.start_levels[job.spec.priority]:
            del self.start_levels[job.spec.priority]

    def run(self) -> None:
        owner, cap = self.owner, self.cap
        floor = -owner._pending[-1][0]
        hopeless: dict[bytes, int] = {}
        """Allowed types -> fewest GPUs for which no victims were enough: within one decision
        victims only get scarcer, so a job as wide or wider on those types is skipped."""
        for neg_priority, _, job_id in owner._pending:
            priority = -neg_priority
            if self.lowest(floor) >= priority:
                return  # nobody below this job (or any after it) is left to give way
            job = self.view.pending.get(job_id)
            if job is None or job_id in self.started or job_id in owner._reserved:
                continue
            allowed = job.speeds > 0
            if (cap.free_per_type[allowed] >= job.num_gpus).any():
                p = owner.place(job, cap)
                if p is not None:
                    cap.allocate(p)
                    self.start(job, p)
                    continue
            types = allowed.tobytes()
            if job.num_gpus >= hopeless.get(types, job.num_gpus + 1):
                continue
            taken = self.victims(job)
            if taken is None:
                hopeless[types] = min(job.num_gpus, hopeless.get(types, job.num_gpus))
                continue
            trial, victims, p = taken
            trial.allocate(p)
            cap.free[:], cap.free_per_type[:], cap.total_free = trial.free, trial.free_per_type, trial.total_free
            running_victims = set()
            for v in victims:
                if v.job_id in self.started:
                    self.unstart(v)
                else:
                    self.decision.preempts.append(Preempt(v))
                    self.gone.add(v.job_id)
                    running_victims.add(v.job_id)
            self.start(job, p)
            if running_victims:
                owner._reserved[job_id] = _Reservation(priority, p.gpu_type, p.num_gpus, running_victims)

    def victims(self, job: JobState) -> tuple[FreeCapacity, list[JobState], Placement] | None:
        """The fewest lower-priority jobs (in rule 3's order) whose GPUs let `job` fit, the
        capacity without them and the job's placement there; None when even all of them are not
        enough. `job` fits nowhere now, so only a victim's own type can start to fit once it is
        released: the full placement is tried only then."""
        place, g = self.owner.place, job.num_gpus
        trial = self.cap.copy()
        chosen: list[tuple[JobState, Placement]] = []
        for victim, placement in self.candidates(job):
            trial.release(placement)
            chosen.append((victim, placement))
            if trial.free_per_type[placement.gpu_type] >= g and place(job, trial) is not None:
                break
        else:
            return None
        for i in range(len(chosen) - 2, -1, -1):  # keep those it does not need, the latest chosen first
            trial.allocate(chosen[i][1])
            if place(job, trial) is None:
                trial.release(chosen[i][1])
            else:
                del chosen[i]
        p = place(job, trial)
        assert p is not None
        return trial, [v for v, _ in chosen], p

    def candidates(self, job: JobState) -> Iterator[tuple[JobState, Placement]]:
        """Lower-priority jobs on types `job` may use: this decision's starts, then running jobs;
        lowest priority first, within one priority the newest first."""
        priority, speeds = job.spec.priority, job.speeds
        placed = {s.job.job_id: s for s in self.decision.starts if s.job.spec.priority < priority}
        starts = sorted((s.job.spec.priority, 0, -i, job_id) for i, (job_id, s) in enumerate(placed.items()))
        running = ((k[0], 1, k[1], k[2]) for k in islice(self.running, self.first, None))
        for level, _, _, job_id in heapq.merge(starts, running):
            if level >= priority:
                return
            if job_id in placed:
                victim, placement = placed[job_id].job, placed[job_id].placement
            else:
                if job_id in self.gone:
                    continue
                victim = self.view.running[job_id]
                assert victim.placement is not None
                placement = victim.placement
            if speeds[placement.gpu_type] > 0:
                yield victim, placement
