"""Request and response bodies of the REST API. Create and read models are separate: a client
never sends server-owned fields (id, state, times), and unknown fields are rejected by name."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kaon.store.records import JobKind, JobPhase, JobRecord, StopRequest


NO_NUL = r"^[^\x00]*$"
"""exec cannot pass NUL, and PostgreSQL text cannot store it (SQLite did, silently)."""
Text = Annotated[str, Field(pattern=NO_NUL)]
MAX_TIME_LIMIT_S = 366 * 86400.0
"""A year and a day: longer limits are typos (or `Infinity`, which JSON parsers accept), and a
job whose limit never ends could never be placed by a backfilling policy."""
EnvName = Annotated[str, Field(min_length=1, pattern=r"^[^=\x00]*$")]


class JobCreate(BaseModel):
    """Every rule on a field is in the JSON schema too (patterns, the program's `prefixItems`), so
    the document promises exactly what is accepted: schema-valid input is never refused as
    malformed (the API fuzz test checks both directions)."""

    model_config = ConfigDict(extra="forbid")

    command: list[Text] = Field(
        min_length=1,
        description="argv; the first element is the program",
        json_schema_extra={"prefixItems": [{"type": "string", "minLength": 1, "pattern": NO_NUL}]},
    )
    name: str | None = Field(None, max_length=200, pattern=NO_NUL)
    user: str | None = Field(None, max_length=100, pattern=NO_NUL)
    gpus: int = Field(1, ge=1, le=4096)
    gpu_types: list[str] | None = Field(None, min_length=1, description="allowed GPU types; default any")
    cpus: int = Field(1, ge=1, le=1 << 20)
    memory_mb: int = Field(0, ge=0, le=1 << 40)
    time_limit_s: float | None = Field(
        None, gt=0, le=MAX_TIME_LIMIT_S, allow_inf_nan=False, description="default: the server's default time limit"
    )
    priority: int = Field(0, ge=-(1 << 31), le=(1 << 31) - 1)
    queue: str = Field("default", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: JobKind = JobKind.TRAINING
    job_type: str | None = Field(None, max_length=100, pattern=NO_NUL, description="a model type from the throughput table")
    env: dict[EnvName, Text] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False, "propertyNames": {"minLength": 1, "pattern": r"^[^=\x00]*$"}},
    )
    retries: int = Field(0, ge=0, le=100, description="extra attempts after a failure")
    cwd: str | None = Field(None, min_length=1, max_length=4096, pattern=NO_NUL)

    @field_validator("command")
    @classmethod
    def _program(cls, value: list[str]) -> list[str]:
        """pydantic cannot type "a list whose first item is non-empty"; the schema says it with prefixItems."""
        if not value[0]:
            raise ValueError("the program (first element) must not be empty")
        return value


class JobBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[JobCreate] = Field(min_length=1, max_length=10000)


class GrantRead(BaseModel):
    gpu_type: str
    nodes: list[str]
    devices: list[int]


class JobRead(BaseModel):
    id: int
    name: str | None
    user: str | None
    command: list[str]
    env: dict[str, str]
    gpus: int
    gpu_types: list[str] | None
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
    grant: GrantRead | None
    attempt: int
    pid: int | None
    stop_request: StopRequest | None
    run_time_s: float
    preemptions: int
    max_rss_mb: float | None
    cpu_time_s: float | None
    log_path: str | None

    @classmethod
    def of(cls, r: JobRecord) -> JobRead:
        grant = (
            GrantRead(gpu_type=r.grant.gpu_type, nodes=list(r.grant.node_names), devices=list(r.grant.devices))
            if r.grant is not None
            else None
        )
        fields = {k: getattr(r, k) for k in cls.model_fields if k not in {"command", "env", "gpu_types", "grant"}}
        return cls(
            **fields,
            command=list(r.command),
            env=dict(r.env),
            gpu_types=list(r.gpu_types) if r.gpu_types is not None else None,
            grant=grant,
        )


class JobList(BaseModel):
    items: list[JobRead]
    total: int
    limit: int
    offset: int


class TypeReasonRead(BaseModel):
    gpu_type: str
    allowed: bool
    free: int
    total: int
    needed: int
    message: str


class ExplainRead(BaseModel):
    job_id: int
    state: JobPhase
    message: str
    queue_position: int | None
    queue_length: int | None
    reasons: list[TypeReasonRead]
    predicted_start: float | None = Field(
        description="earliest start if running jobs end at their time limits (a bound, Unix time)"
    )
    held: str | None = Field(None, description="why the job is held, if it is (it starts only once released)")


class LogChunk(BaseModel):
    job_id: int
    offset: int
    next_offset: int
    text: str
    complete: bool = Field(description="the job is over and the log was read to its end")


class NodeRead(BaseModel):
    name: str
    gpu_type: str
    gpus: int
    devices: list[int]
    free_devices: list[int]
    up: bool
    """In the inventory as last read; a node that left stays listed, down, while its jobs stop."""
    drained: bool = False
    """Drained by an operator: it takes no new jobs; its running jobs finish."""


class QueueRead(BaseModel):
    queue: str
    counts: dict[JobPhase, int]


class HealthRead(BaseModel):
    status: str
    version: str
    policy: str
    pending: int
    running: int
    decisions: int
    error: str | None
    recovered: dict[str, int] = Field(
        default_factory=dict, description="what start-up reconciliation found: pending, adopted, requeued, cancelled"
    )


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        "released by an operator", min_length=1, max_length=500, pattern=NO_NUL, description="recorded in the audit log"
    )


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = Field(None, description="new policy spec; default: re-create the current one")


class ReloadRead(BaseModel):
    policy: str


class AuditRead(BaseModel):
    seq: int
    at: float
    actor: str
    action: str
    target: str | None
    reason: str | None
    details: str
    prev_hash: str
    hash: str


class AuditVerifyRead(BaseModel):
    ok: bool
    records: int
    bad_seq: int | None
    message: str


class AnomalyRead(BaseModel):
    kind: str
    subject: str
    score: float
    message: str
