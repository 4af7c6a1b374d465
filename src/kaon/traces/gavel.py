"""Gavel (OSDI'20) `.trace` files: Philly-derived jobs with a job type from Gavel's throughput table.

Tab-separated, no header, seven fields per line: `job_type`, `command`, `num_steps_arg`,
`needs_data_dir`, `total_steps`, `arrival_time_s`, `scale_factor` (GPUs). Gavel states a job's
length in training steps, not seconds; kaon's `duration` is runtime on the reference type, so it is
`total_steps / throughput(v100, job_type, scale_factor)` from the same table Gavel generated the
trace with (the largest measured scale not above `scale_factor` when that one was not measured).
That makes the duration exactly the one Gavel's simulator gives the job on a V100 alone.

There is no header to recognise, so `detect_format` picks this format by the `.trace` suffix
(`.trace.gz` too). Arrival times are seconds from the trace start; Gavel traces carry no dates.
"""

from __future__ import annotations

from pathlib import Path

from kaon.core.job import JobSpec, Trace
from kaon.core.throughput import ThroughputTable, load_throughput_table
from kaon.traces.base import RowErrors, TraceFormatError, open_text, parse_field, positive_int

FIELDS = (
    "job_type",
    "command",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "arrival_time_s",
    "scale_factor",
)
REFERENCE_TYPE = "v100"
SUFFIX = ".trace"


def _arrival(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def _flag(raw: str) -> int:
    if raw not in ("0", "1"):
        raise ValueError("must be 0 or 1")
    return int(raw)


def read_gavel(path: str | Path, *, skip_bad: bool = False, table: ThroughputTable | None = None) -> Trace:
    path = Path(path)
    table = table if table is not None else load_throughput_table()
    errors = RowErrors(skip_bad)
    jobs: list[JobSpec] = []
    with open_text(path) as f:
        for line, text in enumerate(f, start=1):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                jobs.append(_job(path, line, text.split("\t"), table))
            except TraceFormatError as e:
                errors.handle(e)
    return Trace(tuple(jobs), str(path), "gavel", None, tuple(errors.skipped))


def _job(path: Path, line: int, parts: list[str], table: ThroughputTable) -> JobSpec:
    if len(parts) != len(FIELDS):
        missing = FIELDS[len(parts)] if len(parts) < len(FIELDS) else FIELDS[-1]
        raise TraceFormatError(
            path, line, missing, f"expected {len(FIELDS)} tab-separated fields, got {len(parts)}"
        )
    row = dict(zip(FIELDS, parts))
    job_type = parse_field(path, line, "job_type", row["job_type"], str)
    parse_field(path, line, "needs_data_dir", row["needs_data_dir"], _flag)
    steps = parse_field(path, line, "total_steps", row["total_steps"], positive_int)
    arrival = parse_field(path, line, "arrival_time_s", row["arrival_time_s"], _arrival)
    scale = parse_field(path, line, "scale_factor", row["scale_factor"], positive_int)
    rate = table.throughput(REFERENCE_TYPE, job_type, scale)
    if not rate:
        raise TraceFormatError(
            path, line, "job_type", f"{job_type!r} has no {REFERENCE_TYPE} throughput in the throughput table"
        )
    return JobSpec(
        job_id=f"gavel-{line}",
        submit_time=arrival,
        duration=steps / rate,
        num_gpus=scale,
        job_type=job_type,
    )
