"""`SteppingSimulator`: kaon's engine, paused at each decision point so an agent can act.

`Simulator.run` asks a policy for a whole `Decision` at once; an RL agent instead makes one choice
per step. This subclass replays the same event loop (the same heap, ledger, `_apply`, `_finish`
and policy hooks of `kaon.sim.engine.Simulator`, so nothing about how jobs progress is
re-implemented) as a generator: at every instant with pending jobs it yields the live
`SchedulerView`, and the caller sends back one `Start` (then it yields again at the same instant)
or None to let the clock move on. It also integrates, between events, the two quantities the
reward is made of: jobs in the system x time, and busy GPUs x time.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator

from kaon.policy.base import Decision, SchedulerView, Start
from kaon.sim.engine import _FINISH, Simulator
from kaon.sim.state import JobStatus


class SteppingSimulator(Simulator):
    """One instance steps through one replay; the policy only receives the `job_*` hooks."""

    jobs_area = 0.0
    """Integral of (pending + running jobs) over simulated time so far: total JCT accrued."""
    busy_area = 0.0
    """Integral of busy GPUs over simulated time so far."""

    def _advance(self, t: float) -> None:
        dt = t - self.now
        if dt > 0:
            self.jobs_area += (len(self.ledger.pending) + len(self.ledger.running)) * dt
            self.busy_area += (self.cluster.total_gpus - self.ledger.capacity.total_free) * dt
        self.now = t

    def decision_points(self) -> Generator[SchedulerView, Start | None, None]:
        skip = {id(j) for j in self.unschedulable}
        self._arrivals = [j for j in self.jobs if id(j) not in skip]
        self._next_arrival = 0
        total = len(self._arrivals)
        horizon = self.config.horizon_s if self.config.horizon_s is not None else float("inf")
        while True:
            ai = self._next_arrival
            next_arrival = self._arrivals[ai].spec.submit_time if ai < total else float("inf")
            next_event = self._heap[0][0] if self._heap else float("inf")
            t = min(next_arrival, next_event)
            if t == float("inf") or t > horizon:
                return
            self._advance(t)
            while self._heap and self._heap[0][0] == t:
                _, kind, _, job, version = heapq.heappop(self._heap)
                self.events += 1
                if kind == _FINISH:
                    assert job is not None
                    if job.version == version and job.status is JobStatus.RUNNING:
                        self._finish(job)
                else:
                    self._wakes.discard(t)
            while self._next_arrival < total and self._arrivals[self._next_arrival].spec.submit_time == t:
                job = self._arrivals[self._next_arrival]
                self._next_arrival += 1
                self.events += 1
                self.ledger.enqueue(job)
                self.policy.job_arrived(job, t)
            while self.ledger.pending:
                choice = yield self.ledger.view(t)
                if choice is None:
                    break
                self._apply(Decision(starts=[choice]))
            self._record()
