"""`RunningTable`: the running jobs' rank inputs as numpy arrays, kept up to date by policy hooks.

A preemptive rank policy looks at every running job at every decision (which ones a waiting job
may preempt, when the next one outlives its prediction, when the next lease ends). Gathering that
state from thousands of `JobState` objects in Python costs milliseconds per decision; here each
running job owns a slot of fixed-size arrays, filled once when it starts and freed when it stops,
so a decision reads them with a few numpy operations whatever the number of running jobs.
The slot bookkeeping (`JobSlots`) also holds the model-based planner's running jobs
(`kaon.learn.planner.RunningSlots`).
"""

from __future__ import annotations

import numpy as np

from kaon.predict.online import Estimate
from kaon.sim.state import JobState

FIELDS = ("executed", "attained", "start", "gpus", "point", "p10", "p90")


class JobSlots:
    """Running jobs in the columns of fixed-size arrays: `data` has one row per field, a job owns a
    column from its start to its stop, and freed columns are reused (the arrays double when full).
    A reader takes the active columns with one mask, whatever the number of running jobs."""

    def __init__(self, fields: tuple[str, ...], capacity: int = 256) -> None:
        self.data = np.full((len(fields), capacity), np.nan)
        self.active = np.zeros(capacity, dtype=bool)
        self.jobs: list[JobState | None] = [None] * capacity
        self.slot: dict[int, int] = {}
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self.version = 0
        """Bumped by every change, so a reader can cache what it derived from the arrays."""

    def __len__(self) -> int:
        return len(self.slot)

    def put(self, job: JobState) -> int:
        """A column for `job` (a fresh one if it had one), all NaN; the caller fills it."""
        self.remove(job)
        if not self._free:
            self._grow()
        s = self._free.pop()
        self.version += 1
        self.slot[job.index] = s
        self.jobs[s] = job
        self.active[s] = True
        return s

    def remove(self, job: JobState) -> None:
        s = self.slot.pop(job.index, None)
        if s is None:
            return
        self.version += 1
        self.active[s] = False
        self.jobs[s] = None
        self.data[:, s] = np.nan
        self._free.append(s)

    def _grow(self) -> None:
        n = self.data.shape[1]
        self.data = np.concatenate([self.data, np.full_like(self.data, np.nan)], axis=1)
        self.active = np.concatenate([self.active, np.zeros(n, dtype=bool)])
        self.jobs.extend([None] * n)
        self._free.extend(range(2 * n - 1, n - 1, -1))


class RunningTable(JobSlots):
    """Slots of running jobs: executed wall s and attained GPU-s at their start, start time, GPUs,
    and their runtime estimate (NaN until it is known)."""

    def __init__(self, capacity: int = 256) -> None:
        super().__init__(FIELDS, capacity)

    def add(self, job: JobState, estimate: Estimate | None) -> None:
        s = self.put(job)
        self.data[:4, s] = (job.executed, job.attained, job.run_start, job.spec.num_gpus)
        self.set_estimate(job, estimate)

    def set_estimate(self, job: JobState, estimate: Estimate | None) -> None:
        s = self.slot[job.index]
        self.version += 1
        self.data[4:, s] = (estimate.point, estimate.p10, estimate.p90) if estimate else np.nan

    def missing(self) -> list[JobState]:
        """Running jobs whose estimate is not known yet."""
        idx = np.flatnonzero(self.active & np.isnan(self.data[4]))
        return [self.jobs[i] for i in idx]  # type: ignore[misc]

    def at(self, now: float) -> tuple[np.ndarray, ...]:
        """Per slot at `now`: executed, attained, GPUs, point, p10, p90 (inactive slots are NaN)."""
        executed, attained, start, gpus, point, p10, p90 = self.data
        ran = now - start
        return executed + ran, attained + ran * gpus, gpus, point, p10, p90
