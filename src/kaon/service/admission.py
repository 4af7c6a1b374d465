"""Submit-time checks beyond the schema: a request no node could ever satisfy is rejected at once
with the reason, instead of waiting in the queue forever.

Those are 409 Conflict, not 422: the request is well formed (the schema, which promises what is
accepted, cannot know the cluster, whose nodes come and go while the service runs); it conflicts
with the cluster as it is now. 422 stays for input that is wrong whatever the cluster."""

from __future__ import annotations

from kaon.core.cluster import ClusterSpec
from kaon.service.schemas import JobCreate
from kaon.store.records import NewJob


CONFLICT = 409
INVALID = 422


class AdmissionError(ValueError):
    """A refused request; `field` names the offending request field, `status` is 409 (the cluster
    cannot run it) or 422 (invalid in itself)."""

    def __init__(self, field: str, message: str, status: int = INVALID) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.status = status


def admit(body: JobCreate, cluster: ClusterSpec, default_time_limit_s: float) -> NewJob:
    names = cluster.type_names
    types: tuple[str, ...] | None = None
    if body.gpu_types is not None:
        by_lower = {t.lower(): t for t in names}
        unknown = [t for t in body.gpu_types if t.strip().lower() not in by_lower]
        if unknown:
            raise AdmissionError("gpu_types", f"unknown GPU type(s) {unknown}; this cluster has {list(names)}", CONFLICT)
        types = tuple(dict.fromkeys(by_lower[t.strip().lower()] for t in body.gpu_types))
    per_type = cluster.gpus_per_type()
    allowed = [i for i, t in enumerate(names) if types is None or t in types]
    largest = max(allowed, key=lambda i: per_type[i])
    if body.gpus > per_type[largest]:
        raise AdmissionError(
            "gpus",
            f"needs {body.gpus} GPUs, more than any allowed GPU type has in total "
            f"(the most is {int(per_type[largest])} {names[largest]})",
            CONFLICT,
        )
    return NewJob(
        command=tuple(body.command),
        gpus=body.gpus,
        time_limit_s=body.time_limit_s if body.time_limit_s is not None else default_time_limit_s,
        name=body.name,
        user=body.user,
        env=tuple(sorted(body.env.items())),
        gpu_types=types,
        cpus=body.cpus,
        memory_mb=body.memory_mb,
        priority=body.priority,
        queue=body.queue,
        kind=body.kind,
        job_type=body.job_type,
        retries=body.retries,
        cwd=body.cwd,
    )
