"""Slurm accounting exports: `sacct --parsable2` (`|`-separated, one header line).

Made for `sacct -a -X -P -o JobID,JobName,User,Partition,Submit,Start,End,Elapsed,State,AllocTRES,
ReqTRES,Timelimit`; only `JobID`, `Submit`, `State`, a length (`Elapsed`, or `Start` and `End`) and
a GPU count (`AllocTRES` or `ReqTRES`) are required, the rest is used when present.

- `Submit`, `Start`, `End` are ISO date-times in the cluster's local time, read as UTC (only
  differences matter); the earliest submit is the trace epoch.
- duration = `Elapsed` (`[D-]HH:MM:SS` or `MM:SS`), else `End - Start`.
- GPUs come from the TRES strings, `gres/gpu=4` or typed `gres/gpu:v100=4` (both forms may appear
  together; the untyped total wins). The count is what was allocated (`AllocTRES`), else what was
  requested. The GPU types the job *asked for* in `ReqTRES` (lower-cased) become `allowed_types`:
  a type Slurm merely happened to allocate is not a constraint. Without `ReqTRES`, `AllocTRES`
  types are used.
- `Partition` is the queue; `User` and `JobName` are kept. An array task keeps its id (`123_4`).
- Skipped, each recorded in `Trace.skipped`: jobs with no GPUs, jobs in a non-terminal state
  (PENDING, RUNNING, ...: their length is not known yet), and jobs that never ran (zero length,
  e.g. cancelled while pending).
- Job steps (`123.batch`, `123.extern`, `123.0`) are parts of job 123, whose own row already
  covers them; their rows are ignored, not counted as skips. `-X` leaves them out anyway.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

from kaon.core.job import JobSpec, Trace
from kaon.traces.base import RowErrors, TraceFormatError, open_text, parse_field
from kaon.traces.skips import note

REQUIRED = ("JobID", "Submit", "State")
TERMINAL = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}
)
_ELAPSED = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)(?:\.\d+)?$")
_STEP = re.compile(r"^[^.]+\.\S+$")


def _instant(raw: str) -> datetime:
    when = datetime.fromisoformat(raw)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _elapsed(raw: str) -> float:
    m = _ELAPSED.match(raw)
    if not m:
        raise ValueError("expected [D-]HH:MM:SS")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    if minutes >= 60 or seconds >= 60 or (days and hours >= 24):
        raise ValueError("minutes and seconds must be < 60, hours < 24 after a day count")
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def gpu_tres(raw: str) -> tuple[int, tuple[str, ...]]:
    """GPUs and GPU types in a TRES string: `cpu=8,gres/gpu:v100=4,gres/gpu=4,mem=64G` -> (4, ("v100",))."""
    total: int | None = None
    typed: dict[str, int] = {}
    for item in raw.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or not (key == "gres/gpu" or key.startswith("gres/gpu:")):
            continue
        if not value.isdigit():
            raise ValueError(f"{key} count {value!r} is not a whole number")
        if key == "gres/gpu":
            total = int(value)
        else:
            name = key.split(":", 1)[1].lower()
            typed[name] = typed.get(name, 0) + int(value)
    count = total if total is not None else sum(typed.values())
    return count, tuple(typed)


def read_slurm(path: str | Path, *, skip_bad: bool = False) -> Trace:
    path = Path(path)
    errors = RowErrors(skip_bad)
    rows: list[tuple[datetime, float, int, tuple[str, ...], dict[str, str]]] = []
    seen: set[str] = set()
    with open_text(path) as f:
        reader = csv.DictReader(f, delimiter="|", quoting=csv.QUOTE_NONE)
        _check_header(path, reader.fieldnames or [])
        for row in reader:
            line = reader.line_num
            job_id = (row.get("JobID") or "").strip()
            if _STEP.match(job_id):
                continue
            try:
                parsed = _row(path, line, row, seen, errors)
            except TraceFormatError as e:
                errors.handle(e)
                continue
            if parsed is not None:
                seen.add(job_id)
                rows.append((*parsed, row))
    if not rows:
        return Trace((), str(path), "slurm", None, tuple(errors.skipped))
    epoch = min(r[0] for r in rows)
    jobs = [
        JobSpec(
            job_id=row["JobID"].strip(),
            submit_time=(submit - epoch).total_seconds(),
            duration=duration,
            num_gpus=gpus,
            queue=(row.get("Partition") or "").strip() or "default",
            user=(row.get("User") or "").strip() or None,
            name=(row.get("JobName") or "").strip() or None,
            allowed_types=types or None,
        )
        for submit, duration, gpus, types, row in rows
    ]
    return Trace(tuple(jobs), str(path), "slurm", epoch, tuple(errors.skipped))


def _check_header(path: Path, columns: list[str]) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if "Elapsed" not in columns and not {"Start", "End"} <= set(columns):
        missing.append("Elapsed")
    if "AllocTRES" not in columns and "ReqTRES" not in columns:
        missing.append("AllocTRES")
    if missing:
        raise TraceFormatError(path, 1, missing[0], f"header lacks column(s) {missing}")


def _row(
    path: Path, line: int, row: dict[str, str], seen: set[str], errors: RowErrors
) -> tuple[datetime, float, int, tuple[str, ...]] | None:
    job_id = parse_field(path, line, "JobID", row.get("JobID"), str)
    if job_id in seen:
        raise TraceFormatError(path, line, "JobID", f"duplicate job id {job_id!r}")
    state = parse_field(path, line, "State", row.get("State"), str).split()[0].upper()
    submit = parse_field(path, line, "Submit", row.get("Submit"), _instant)
    alloc = _gpus(path, line, row, "AllocTRES")
    req = _gpus(path, line, row, "ReqTRES")
    gpus = alloc[0] or req[0]
    types = req[1] if "ReqTRES" in row else alloc[1]
    if state not in TERMINAL:
        note(errors, path, line, f"job not finished (state {state})")
        return None
    if gpus == 0:
        note(errors, path, line, "no GPUs in AllocTRES/ReqTRES")
        return None
    duration = _duration(path, line, row)
    if duration <= 0:
        note(errors, path, line, f"job never ran (zero length, state {state})")
        return None
    return submit, duration, gpus, types


def _gpus(path: Path, line: int, row: dict[str, str], column: str) -> tuple[int, tuple[str, ...]]:
    """GPUs and types in one TRES column; an empty cell (nothing allocated yet) is no GPUs."""
    raw = (row.get(column) or "").strip()
    return parse_field(path, line, column, raw, gpu_tres) if raw else (0, ())


def _duration(path: Path, line: int, row: dict[str, str]) -> float:
    if (row.get("Elapsed") or "").strip():
        return parse_field(path, line, "Elapsed", row.get("Elapsed"), _elapsed)
    start = parse_field(path, line, "Start", row.get("Start"), _instant)
    end = parse_field(path, line, "End", row.get("End"), _instant)
    if end < start:
        raise TraceFormatError(path, line, "End", f"{end.isoformat()} is before Start {start.isoformat()}")
    return (end - start).total_seconds()
