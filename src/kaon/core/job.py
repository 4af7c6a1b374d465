"""What a job asks for (`JobSpec`) and a replayable set of them (`Trace`).

A `JobSpec` is frozen: it is the request as submitted, the same in the simulator, in training and
in the service. Everything that changes while the job lives is in `kaon.sim.state.JobState`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job's request.

    `duration` is the job's isolated runtime in seconds on the cluster's reference GPU type (speed
    1.0); on other types it runs at the speed the throughput table gives for its `job_type`.
    `submit_time` is in seconds since the trace's epoch.
    """

    job_id: str
    submit_time: float
    duration: float
    num_gpus: int
    queue: str = "default"
    job_type: str | None = None
    user: str | None = None
    name: str | None = None
    allowed_types: tuple[str, ...] | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if self.num_gpus < 1:
            raise ValueError(f"job {self.job_id}: num_gpus must be >= 1, got {self.num_gpus}")
        if not self.duration > 0:
            raise ValueError(f"job {self.job_id}: duration must be > 0, got {self.duration}")
        if self.submit_time < 0:
            raise ValueError(f"job {self.job_id}: submit_time must be >= 0, got {self.submit_time}")

    @property
    def gpu_seconds(self) -> float:
        """Work in GPU-seconds on the reference type: the size Tiresias and SRTF rank by."""
        return self.duration * max(self.num_gpus, 1)


@dataclass(frozen=True, slots=True)
class PriorJob:
    """A job that finished before a trace's time 0: `finish` is in the trace's seconds (<= 0).

    A window of a longer trace keeps the jobs that finished in the days before its start
    (`kaon.traces.scenario.window`), because a scheduler that has been running sees them finish:
    a runtime predictor's history features (the last durations of similar jobs) then start from
    them, as they do in the history it was trained on, instead of from nothing."""

    spec: JobSpec
    finish: float


@dataclass(frozen=True, slots=True)
class Trace:
    """Jobs sorted by submit time, with where they came from.

    `epoch` is the wall-clock instant of `submit_time == 0` when the source had real dates.
    """

    jobs: tuple[JobSpec, ...]
    source: str = ""
    format: str = ""
    epoch: datetime | None = None
    skipped: tuple[str, ...] = field(default=())
    prior: tuple[PriorJob, ...] = field(default=())
    """Jobs finished before time 0, in finish order (a window's recent past; empty for a whole trace)."""

    def __post_init__(self) -> None:
        times = [j.submit_time for j in self.jobs]
        if any(b < a for a, b in zip(times, times[1:])):
            object.__setattr__(
                self, "jobs", tuple(sorted(self.jobs, key=lambda j: (j.submit_time, j.job_id)))
            )
        ids = [j.job_id for j in self.jobs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.source}: duplicate job ids in trace")

    def __len__(self) -> int:
        return len(self.jobs)

    def with_jobs(self, jobs: Sequence[JobSpec]) -> Trace:
        """The same trace metadata over another job list (after a window or a load scaling)."""
        return replace(self, jobs=tuple(jobs))
