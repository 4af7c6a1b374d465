"""The `Executor` contract: launch, stop and observe jobs, whatever actually runs them.

The scheduling loop never waits on an executor: `launch`, `preempt` and `cancel` return at once,
and everything that happens afterwards (a job started, exited, was killed) comes back as events
from `poll()`. That keeps one loop driving local processes, a remote cluster or a test double alike.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from kaon.store.records import Grant


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One attempt of one job: what to run, for how long at most, and where its output goes."""

    job_id: int
    attempt: int
    command: tuple[str, ...]
    time_limit_s: float
    log_path: Path
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What the job's processes consumed: peak resident memory and CPU time (user + system)."""

    max_rss_mb: float | None = None
    cpu_time_s: float | None = None


@dataclass(frozen=True, slots=True)
class Started:
    job_id: int
    pid: int | None
    at: float


@dataclass(frozen=True, slots=True)
class Finished:
    """The job exited by itself with `exit_code` (0 is success)."""

    job_id: int
    exit_code: int
    at: float
    usage: Usage = Usage()


@dataclass(frozen=True, slots=True)
class Failed:
    """The job was ended by a signal (`signal`), hit its time limit (`timed_out`), or vanished
    without a trace of how it ended (`signal` None, `detail` says so)."""

    job_id: int
    signal: int | None
    at: float
    timed_out: bool = False
    usage: Usage = Usage()
    detail: str = ""


ExecutorEvent = Started | Finished | Failed


class Recovery(str, Enum):
    """What `recover` found for a job the store says was running when the service stopped.

    TRACKED: the executor follows it again (alive, or it ended while the service was down); its
    end arrives through `poll()`. NEVER_STARTED: no trace that it ever ran, so running it again
    cannot run it twice."""

    TRACKED = "tracked"
    NEVER_STARTED = "never-started"


class Executor(ABC):
    """Runs jobs on granted GPUs. Not thread-safe: one owner (the scheduling loop) calls it."""

    @abstractmethod
    def launch(self, run: RunRequest, grant: Grant) -> None:
        """Start `run` on `grant`; its `Started` event comes from `poll()`."""

    @abstractmethod
    def preempt(self, job_id: int, grace_s: float) -> None:
        """Ask a running job to stop so it can be resumed later; force it after `grace_s`."""

    @abstractmethod
    def cancel(self, job_id: int, grace_s: float) -> None:
        """Stop a running job for good; force it after `grace_s`."""

    @abstractmethod
    def poll(self) -> list[ExecutorEvent]:
        """Events since the last call, in the order they happened; never blocks."""

    @abstractmethod
    def recover(self, run: RunRequest, grant: Grant, pid: int | None, started_at: float | None) -> Recovery:
        """Find a job a previous service instance launched, and follow it again if it exists."""

    @abstractmethod
    def running(self) -> frozenset[int]:
        """Ids of the jobs this executor is following."""

    def close(self) -> None:
        """Release the executor's own resources. Jobs keep running: a restarted service adopts them."""
