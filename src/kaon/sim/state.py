"""A job's mutable life in a scheduler: status, progress, attained service, current placement.

The engine owns every `JobState`; policies read them and answer with actions. Progress is kept
lazily: a running job's remaining work and attained service are computed for any `now` from the
values at its last start, so nothing is updated per tick.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from kaon.core.job import JobSpec
from kaon.core.placement import Placement


class JobStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"


class JobState:
    """One job as the scheduler sees it. `index` is its position in the trace (a stable key)."""

    __slots__ = (
        "spec",
        "index",
        "speeds",
        "status",
        "remaining",
        "attained",
        "executed",
        "placement",
        "rate",
        "run_start",
        "progress_start",
        "first_start",
        "finish_time",
        "preemptions",
        "starts",
        "queued_since",
        "last_run_duration",
        "version",
    )

    def __init__(self, spec: JobSpec, index: int, speeds: np.ndarray) -> None:
        self.spec = spec
        self.index = index
        self.speeds = speeds
        self.status = JobStatus.PENDING
        self.remaining = spec.duration
        self.attained = 0.0
        self.executed = 0.0
        self.placement: Placement | None = None
        self.rate = 0.0
        self.run_start = 0.0
        self.progress_start = 0.0
        self.first_start: float | None = None
        self.finish_time: float | None = None
        self.preemptions = 0
        self.starts = 0
        self.queued_since = spec.submit_time
        self.last_run_duration = 0.0
        self.version = 0

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    @property
    def num_gpus(self) -> int:
        return self.spec.num_gpus

    def attained_at(self, now: float) -> float:
        """GPU-seconds of service received so far (restart overheads included: they hold GPUs)."""
        if self.status is JobStatus.RUNNING:
            return self.attained + (now - self.run_start) * self.spec.num_gpus
        return self.attained

    def executed_at(self, now: float) -> float:
        """Wall seconds spent running so far."""
        if self.status is JobStatus.RUNNING:
            return self.executed + (now - self.run_start)
        return self.executed

    def remaining_at(self, now: float) -> float:
        """Work left, in seconds on the reference type."""
        if self.status is JobStatus.RUNNING:
            return max(0.0, self.remaining - max(0.0, now - self.progress_start) * self.rate)
        return self.remaining

    def isolated_runtime(self) -> float:
        """Runtime alone on its fastest GPU type: the denominator of slowdown and of Themis' rho."""
        return self.spec.duration / float(self.speeds.max())

    def __repr__(self) -> str:
        return f"JobState({self.job_id}, {self.status.value}, gpus={self.num_gpus})"
