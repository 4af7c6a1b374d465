"""The discrete-event engine: arrivals, completions and policy wake-ups on one simulated clock.

Determinism: events are ordered by (time, kind, sequence number); nothing iterates a set or a
hash-ordered structure, so the same trace, cluster, policy and seed give the same result byte for
byte. Invariants (never more GPUs than exist, each job finishes exactly once, work conserved) are
checked as the run goes: `FreeCapacity` raises on over-allocation, and a finish asserts the job's
remaining work is zero.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.core.placement import Placement
from kaon.core.throughput import SpeedModel
from kaon.policy.base import Decision, Policy
from kaon.sim.ledger import JobLedger, TransitionError
from kaon.sim.state import JobState, JobStatus

_FINISH, _ARRIVAL, _WAKE = 0, 1, 2


class InvariantError(RuntimeError):
    """The simulation broke one of its invariants: a bug in kaon, never bad input."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    restart_overhead_s: float = 30.0
    """Seconds a preempted job spends restoring its checkpoint before it progresses again."""
    horizon_s: float | None = None
    """Stop the clock here (seconds since the trace epoch); jobs not done count as unfinished."""


@dataclass(frozen=True)
class Timeline:
    """Cluster state after each decision: the data behind the utilisation and queue plots."""

    time: np.ndarray
    busy_gpus: np.ndarray
    pending: np.ndarray
    running: np.ndarray


@dataclass(frozen=True)
class SimResult:
    policy: str
    jobs: tuple[JobState, ...]
    unschedulable: tuple[JobState, ...]
    timeline: Timeline
    total_gpus: int
    end_time: float
    events: int
    decisions: int
    wall_s: float


ProgressFn = Callable[[int, int], None]


class Simulator:
    """Replays `trace` on `cluster` under `policy`. One instance runs once."""

    def __init__(
        self,
        trace: Trace,
        cluster: ClusterSpec,
        policy: Policy,
        config: SimConfig | None = None,
        speed_model: SpeedModel | None = None,
    ) -> None:
        self.trace = trace
        self.cluster = cluster
        self.policy = policy
        self.config = config or SimConfig()
        model = speed_model or SpeedModel(cluster)
        self.jobs = [JobState(spec, i, model.speeds(spec.job_type, spec.num_gpus)) for i, spec in enumerate(trace.jobs)]
        self._restrict_types()
        self.ledger = JobLedger(cluster)
        self.now = 0.0
        self._heap: list[tuple[float, int, int, JobState | None, int]] = []
        self._seq = 0
        self._wakes: set[float] = set()
        self.events = 0
        self.decisions = 0
        self._finished = 0
        self._arrived = 0
        """Arrivals delivered so far by `instants`."""
        self._never_arrived = 0
        """Jobs whose arrival lay past the horizon when `instants` ended."""
        self._tl_time: list[float] = []
        self._tl_busy: list[int] = []
        self._tl_pending: list[int] = []
        self._tl_running: list[int] = []
        if trace.prior:  # the run's past, before any arrival (also for the RL stepper)
            policy.jobs_finished_before(trace.prior)

    def _restrict_types(self) -> None:
        """Jobs limited to some GPU types get speed 0 elsewhere; jobs no type can ever hold are
        set aside as unschedulable (reported, never silently dropped)."""
        names = self.cluster.type_names
        per_type = self.cluster.gpus_per_type()
        self.unschedulable: list[JobState] = []
        for j in self.jobs:
            if j.spec.allowed_types is not None:
                allowed = np.array([n in j.spec.allowed_types for n in names])
                j.speeds = np.where(allowed, j.speeds, 0.0)
            if not np.any((per_type >= j.num_gpus) & (j.speeds > 0)):
                self.unschedulable.append(j)

    def _push(self, t: float, kind: int, job: JobState | None, version: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, kind, self._seq, job, version))

    def instants(self, progress: ProgressFn | None = None) -> Iterator[float]:
        """The event loop, shared by `run` and the RL stepper (`kaon.learn.stepper`): for each
        instant with an event or an arrival, in time order, it moves the clock there, applies the
        instant's finishes (first, so their GPUs are free), wakes and arrivals, and yields the
        instant for the caller to decide at; the timeline is recorded when the caller resumes it.
        Ends when nothing is left to happen, or past the horizon."""
        skip = {id(j) for j in self.unschedulable}
        arrivals = [j for j in self.jobs if id(j) not in skip]
        total = len(arrivals)
        self._arrived = 0
        horizon = self.config.horizon_s if self.config.horizon_s is not None else float("inf")
        report_every = max(1, total // 200)
        while True:
            ai = self._arrived
            next_arrival = arrivals[ai].spec.submit_time if ai < total else float("inf")
            next_event = self._heap[0][0] if self._heap else float("inf")
            t = min(next_arrival, next_event)
            if t == float("inf") or t > horizon:
                break
            self._advance(t)
            while self._heap and self._heap[0][0] == t:
                _, kind, _, job, version = heapq.heappop(self._heap)
                self.events += 1
                if kind == _FINISH:
                    assert job is not None
                    if job.version == version and job.status is JobStatus.RUNNING:
                        self._finish(job)
                        if progress and self._finished % report_every == 0:
                            progress(self._finished, total)
                else:
                    self._wakes.discard(t)
            while self._arrived < total and arrivals[self._arrived].spec.submit_time == t:
                job = arrivals[self._arrived]
                self._arrived += 1
                self.events += 1
                self.ledger.enqueue(job)
                self.policy.job_arrived(job, t)
            yield t
            self._record()
        if progress:
            progress(self._finished, total)
        self._never_arrived = total - self._arrived

    def _advance(self, t: float) -> None:
        """Move the clock to `t` (the stepper also integrates its reward terms up to it)."""
        self.now = t

    def run(self, progress: ProgressFn | None = None) -> SimResult:
        wall0 = time.perf_counter()
        horizon = self.config.horizon_s if self.config.horizon_s is not None else float("inf")
        for t in self.instants(progress):
            if self.ledger.pending or self.policy.preemptive:
                self._apply(self.policy.decide(self.ledger.view(t)))
        unfinished = len(self.ledger.pending) + len(self.ledger.running) + self._never_arrived
        end = horizon if unfinished and self.config.horizon_s is not None else self.now
        return SimResult(
            policy=self.policy.name,
            jobs=tuple(self.jobs),
            unschedulable=tuple(self.unschedulable),
            timeline=Timeline(
                np.array(self._tl_time),
                np.array(self._tl_busy, dtype=np.int64),
                np.array(self._tl_pending, dtype=np.int64),
                np.array(self._tl_running, dtype=np.int64),
            ),
            total_gpus=self.cluster.total_gpus,
            end_time=end,
            events=self.events,
            decisions=self.decisions,
            wall_s=time.perf_counter() - wall0,
        )

    def _record(self) -> None:
        busy = self.cluster.total_gpus - self.ledger.capacity.total_free
        pending, running = len(self.ledger.pending), len(self.ledger.running)
        if self._tl_time and self._tl_time[-1] == self.now:
            self._tl_busy[-1], self._tl_pending[-1], self._tl_running[-1] = busy, pending, running
            return
        self._tl_time.append(self.now)
        self._tl_busy.append(busy)
        self._tl_pending.append(pending)
        self._tl_running.append(running)

    def _apply(self, decision: Decision) -> None:
        self.decisions += 1
        now = self.now
        for action in decision.preempts:
            self._preempt(action.job)
        for action in decision.starts:
            self._start(action.job, action.placement)
        if decision.wake_at is not None:
            if decision.wake_at <= now:
                raise InvariantError(f"policy {self.policy.name} asked to wake at {decision.wake_at} <= now {now}")
            if decision.wake_at not in self._wakes:
                self._wakes.add(decision.wake_at)
                self._push(decision.wake_at, _WAKE, None)

    def _start(self, job: JobState, p: Placement) -> None:
        try:
            self.ledger.start(job, p, self.now, self.config.restart_overhead_s)
        except TransitionError as e:
            raise InvariantError(f"policy {self.policy.name}: {e}") from None
        self._push(job.progress_start + job.remaining / job.rate, _FINISH, job, job.version)
        self.policy.job_started(job, self.now)

    def _preempt(self, job: JobState) -> None:
        try:
            self.ledger.requeue(job, self.now)
        except TransitionError as e:
            raise InvariantError(f"policy {self.policy.name}: {e}") from None
        self.policy.job_preempted(job, self.now)

    def _finish(self, job: JobState) -> None:
        remaining = job.remaining_at(self.now)
        if remaining > 1e-6 * max(1.0, job.spec.duration):
            raise InvariantError(f"{job.job_id} finished with {remaining:.6f}s of work left")
        self.ledger.finish(job, self.now)
        job.remaining = 0.0
        self._finished += 1
        self.policy.job_finished(job, self.now)


def simulate(
    trace: Trace,
    cluster: ClusterSpec,
    policy: Policy,
    config: SimConfig | None = None,
    progress: ProgressFn | None = None,
) -> SimResult:
    return Simulator(trace, cluster, policy, config).run(progress)
