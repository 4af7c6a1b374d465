"""`SteppingSimulator`: kaon's engine, paused at each decision point so an agent can act.

`Simulator.run` asks a policy for a whole `Decision` at once; an RL agent instead makes one choice
per step. This subclass drives the engine's own event loop (`Simulator.instants`: the same heap, ledger,
`_apply`, `_finish` and policy hooks, so nothing about how jobs progress is re-implemented) from a
generator: at every instant with pending jobs it yields the live `SchedulerView`, and the caller
sends back one `Start` (then it yields again at the same instant) or None to let the clock move
on. It also integrates, between events, the two quantities the
reward is made of: jobs in the system x time, and busy GPUs x time.
"""

from __future__ import annotations

from collections.abc import Generator

from kaon.policy.base import Decision, SchedulerView, Start
from kaon.sim.engine import Simulator


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
        for t in self.instants():
            while self.ledger.pending:
                choice = yield self.ledger.view(t)
                if choice is None:
                    break
                self._apply(Decision(starts=[choice]))
