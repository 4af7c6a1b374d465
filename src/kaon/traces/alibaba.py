"""Alibaba PAI GPU cluster 2023 (FGD, ATC'23) pod lists: `openb_pod_list_*.csv`.

Columns: `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,
deletion_time,scheduled_time`, times in seconds from the trace start (no dates). How a pod becomes
a job:

- submit time = `creation_time`; queue = `qos` (LS, BE, Burstable, Guaranteed); job id = `name`.
- duration = `deletion_time - scheduled_time`, or `- creation_time` for a pod never scheduled
  (Pending): its lifetime is the only length the trace gives for the demand it placed. A pod whose
  duration is missing or not positive is skipped with that reason. Pods still alive when the trace
  was cut have `deletion_time` at the cut, so their durations are lower bounds.
- `num_gpu == 0` pods are CPU-only, not GPU jobs: each is skipped and recorded in `Trace.skipped`.
- GPU sharing: a pod with `gpu_milli < 1000` asks for a fraction of one GPU. kaon schedules whole
  GPUs, so such a pod is counted as one whole GPU; this overstates GPU demand for sharing pods.
- `gpu_spec` lists the GPU models the pod accepts, `|`-separated (`V100M16|V100M32`); it becomes
  `allowed_types`, lower-cased to match the type names of the bundled `alibaba-2023` cluster.
  Empty means any type.
"""

from __future__ import annotations

from pathlib import Path

from kaon.core.job import JobSpec, Trace
from kaon.traces.base import RowErrors, TraceFormatError, csv_rows, open_text, parse_field
from kaon.traces.skips import note

REQUIRED = ("name", "num_gpu", "gpu_milli", "qos", "pod_phase", "creation_time", "deletion_time")
SCHEDULED = "scheduled_time"


def _whole(raw: str) -> int:
    value = float(raw)
    if value != int(value) or value < 0:
        raise ValueError("must be a whole number >= 0")
    return int(value)


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def allowed_types(spec: str) -> tuple[str, ...] | None:
    """`"V100M16|V100M32"` -> `("v100m16", "v100m32")`; empty -> None (any type)."""
    names = tuple(dict.fromkeys(s.strip().lower() for s in spec.split("|") if s.strip()))
    return names or None


def read_alibaba(path: str | Path, *, skip_bad: bool = False) -> Trace:
    path = Path(path)
    errors = RowErrors(skip_bad)
    jobs: list[JobSpec] = []
    seen: set[str] = set()
    with open_text(path) as f:
        reader = csv_rows(f, path, (*REQUIRED, SCHEDULED))
        for row in reader:
            line = reader.line_num
            try:
                job = _job(path, line, row, seen, errors)
            except TraceFormatError as e:
                errors.handle(e)
                continue
            if job is not None:
                seen.add(job.job_id)
                jobs.append(job)
    return Trace(tuple(jobs), str(path), "alibaba", None, tuple(errors.skipped))


def _job(path: Path, line: int, row: dict[str, str], seen: set[str], errors: RowErrors) -> JobSpec | None:
    name = parse_field(path, line, "name", row.get("name"), str)
    if name in seen:
        raise TraceFormatError(path, line, "name", f"duplicate pod name {name!r}")
    gpus = parse_field(path, line, "num_gpu", row.get("num_gpu"), _whole)
    milli = parse_field(path, line, "gpu_milli", row.get("gpu_milli"), _whole)
    qos = parse_field(path, line, "qos", row.get("qos"), str)
    phase = parse_field(path, line, "pod_phase", row.get("pod_phase"), str)
    created = parse_field(path, line, "creation_time", row.get("creation_time"), _seconds)
    deleted = parse_field(path, line, "deletion_time", row.get("deletion_time"), _seconds)
    raw_sched = (row.get(SCHEDULED) or "").strip()
    start = parse_field(path, line, SCHEDULED, raw_sched, _seconds) if raw_sched else created
    if gpus == 0:
        note(errors, path, line, "CPU-only pod (num_gpu=0)")
        return None
    if not 0 < milli <= 1000:
        raise TraceFormatError(path, line, "gpu_milli", f"must be in 1..1000 for a GPU pod, got {milli}")
    if not deleted > start:
        since = SCHEDULED if raw_sched else "creation_time"
        note(errors, path, line, f"{phase} pod with no positive runtime (deletion_time <= {since})")
        return None
    return JobSpec(
        job_id=name,
        submit_time=created,
        duration=deleted - start,
        num_gpus=gpus,
        queue=qos,
        name=name,
        allowed_types=allowed_types(row.get("gpu_spec") or ""),
    )
