"""Plain, frozen views of stored rows: what the rest of kaon sees instead of ORM objects.

ORM instances are bound to a session and mutable; handing them across threads (the API and the
scheduling loop) invites detached-instance errors and accidental writes. Records are immutable
snapshots built inside a session and safe to pass anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class JobPhase(str, Enum):
    """A service job's state. PENDING and RUNNING are active; the others are terminal."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    @property
    def terminal(self) -> bool:
        return self not in (JobPhase.PENDING, JobPhase.RUNNING)


ACTIVE_PHASES = (JobPhase.PENDING, JobPhase.RUNNING)
TERMINAL_PHASES = tuple(p for p in JobPhase if p.terminal)


class JobKind(str, Enum):
    TRAINING = "training"
    INFERENCE = "inference"


class StopRequest(str, Enum):
    """Why the service asked a running job to stop; decides what its exit means."""

    CANCEL = "cancel"
    PREEMPT = "preempt"
    NODE_LOST = "node-lost"
    """Its node left the inventory: the run ends as a failure, retried if the job has retries left."""


@dataclass(frozen=True, slots=True)
class GrantSlice:
    """GPUs granted on one node: the node's index in the cluster spec, its name, device ids."""

    node: int
    node_name: str
    devices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    """Where a job runs: one GPU type and concrete devices on one or more nodes."""

    gpu_type: str
    type_index: int
    slices: tuple[GrantSlice, ...]

    @property
    def devices(self) -> tuple[int, ...]:
        return tuple(d for s in self.slices for d in s.devices)

    @property
    def num_gpus(self) -> int:
        return len(self.devices)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(s.node_name for s in self.slices)

    def to_json(self) -> dict:
        return {
            "gpu_type": self.gpu_type,
            "type_index": self.type_index,
            "slices": [{"node": s.node, "node_name": s.node_name, "devices": list(s.devices)} for s in self.slices],
        }

    @staticmethod
    def from_json(doc: dict) -> Grant:
        return Grant(
            gpu_type=str(doc["gpu_type"]),
            type_index=int(doc["type_index"]),
            slices=tuple(
                GrantSlice(int(s["node"]), str(s["node_name"]), tuple(int(d) for d in s["devices"]))
                for s in doc["slices"]
            ),
        )


@dataclass(frozen=True, slots=True)
class NewJob:
    """A validated submission, before it has an id."""

    command: tuple[str, ...]
    gpus: int
    time_limit_s: float
    name: str | None = None
    user: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    gpu_types: tuple[str, ...] | None = None
    cpus: int = 1
    memory_mb: int = 0
    priority: int = 0
    queue: str = "default"
    kind: JobKind = JobKind.TRAINING
    job_type: str | None = None
    retries: int = 0
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One stored job, as of the moment it was read."""

    id: int
    name: str | None
    user: str | None
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    gpus: int
    gpu_types: tuple[str, ...] | None
    cpus: int
    memory_mb: int
    time_limit_s: float
    priority: int
    queue: str
    kind: JobKind
    job_type: str | None
    retries: int
    cwd: str | None
    state: JobPhase
    submit_time: float
    start_time: float | None
    end_time: float | None
    exit_code: int | None
    signal: int | None
    reason: str | None
    grant: Grant | None
    attempt: int
    pid: int | None
    stop_request: StopRequest | None
    run_time_s: float
    preemptions: int
    max_rss_mb: float | None
    cpu_time_s: float | None
    log_path: str | None


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One state transition of a job, in the order it was persisted."""

    id: int
    job_id: int
    at: float
    from_state: JobPhase | None
    to_state: JobPhase
    detail: str | None


@dataclass(frozen=True, slots=True)
class NodeRecord:
    name: str
    gpu_type: str
    gpus: int
    devices: tuple[int, ...]
    up: bool
    """In the inventory the service last read."""
    updated_at: float
    drained: bool = False
    """Drained by an operator: no new jobs until undrained."""
