"""Tiresias (NSDI'19) simulator CSV: `job_id,num_gpu,submit_time,iterations,model_name,duration,interval`.

Times are already seconds from the trace start and `duration` is the job's runtime, so rows map
one to one onto `JobSpec`. `model_name` (vgg19, resnet50, ...) becomes the job type: it is the truth
about the job, and a type the throughput table does not know simply runs at each GPU type's default
speed. `iterations` and `interval` (the gap to the next arrival, redundant with `submit_time`) are
not used. Tiresias traces carry no dates.
"""

from __future__ import annotations

from pathlib import Path

from kaon.core.job import JobSpec, Trace
from kaon.traces.base import (
    RowErrors,
    TraceFormatError,
    csv_rows,
    open_text,
    parse_field,
    positive_float,
    positive_int,
)

REQUIRED = ("job_id", "num_gpu", "submit_time", "duration")


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def read_tiresias(path: str | Path, *, skip_bad: bool = False) -> Trace:
    path = Path(path)
    errors = RowErrors(skip_bad)
    jobs: list[JobSpec] = []
    seen: set[str] = set()
    with open_text(path) as f:
        reader = csv_rows(f, path, REQUIRED)
        for row in reader:
            line = reader.line_num
            try:
                job_id = parse_field(path, line, "job_id", row.get("job_id"), str)
                if job_id in seen:
                    raise TraceFormatError(path, line, "job_id", f"duplicate job id {job_id!r}")
                gpus = parse_field(path, line, "num_gpu", row.get("num_gpu"), positive_int)
                submit = parse_field(path, line, "submit_time", row.get("submit_time"), _seconds)
                duration = parse_field(path, line, "duration", row.get("duration"), positive_float)
            except TraceFormatError as e:
                errors.handle(e)
                continue
            seen.add(job_id)
            model = (row.get("model_name") or "").strip() or None
            jobs.append(JobSpec(job_id=job_id, submit_time=submit, duration=duration, num_gpus=gpus, job_type=model))
    return Trace(tuple(jobs), str(path), "tiresias", None, tuple(errors.skipped))
