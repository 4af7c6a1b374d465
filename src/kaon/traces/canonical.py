"""kaon's own trace format: one CSV that holds every `JobSpec` field, read and written losslessly.

Columns (docs/TRACES.md has the full table): `job_id,submit_time,duration,num_gpus` are required;
`queue,job_type,user,name,allowed_types,priority` are optional, as columns or as empty cells.
`submit_time` is either seconds since the trace start, or an ISO-8601 date-time (naive = UTC) in
every row; the first good row decides which, and a row of the other kind is an error, because a mix
has no single epoch. With dates, the earliest submit is the epoch and times are rebased to it.
`allowed_types` is `;`-separated; empty means any GPU type.

`write_canonical` writes a `Trace` back in this format (dates when the trace has an epoch), which is
how kaon records the history a cluster actually ran.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, datetime, timedelta
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

REQUIRED = ("job_id", "submit_time", "duration", "num_gpus")
OPTIONAL = ("queue", "job_type", "user", "name", "allowed_types", "priority")
COLUMNS = REQUIRED + OPTIONAL


def _seconds(raw: str) -> float:
    value = float(raw)
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def _instant(raw: str) -> datetime:
    when = datetime.fromisoformat(raw)
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _is_seconds(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def read_canonical(path: str | Path, *, skip_bad: bool = False) -> Trace:
    path = Path(path)
    errors = RowErrors(skip_bad)
    jobs: list[JobSpec] = []
    instants: list[float | datetime] = []
    seen: set[str] = set()
    with open_text(path) as f:
        reader = csv_rows(f, path, REQUIRED)
        for row in reader:
            line = reader.line_num
            dated = isinstance(instants[0], datetime) if instants else None
            try:
                submit = _submit(path, line, row.get("submit_time"), dated)
                job = _job(path, line, row, seen)
            except TraceFormatError as e:
                errors.handle(e)
                continue
            seen.add(job.job_id)
            jobs.append(job)
            instants.append(submit)
    # `_submit` keeps every row the same kind: either all instants are dates or none is.
    dates = [t for t in instants if isinstance(t, datetime)]
    epoch = min(dates) if dates else None
    rebased = [replace(j, submit_time=_since(t, epoch)) for j, t in zip(jobs, instants)]
    return Trace(tuple(rebased), str(path), "canonical", epoch, tuple(errors.skipped))


def _since(instant: float | datetime, epoch: datetime | None) -> float:
    if isinstance(instant, datetime) and epoch is not None:
        return (instant - epoch).total_seconds()
    return float(instant)  # type: ignore[arg-type]


def _submit(path: Path, line: int, raw: str | None, dated: bool | None) -> float | datetime:
    """Seconds or a date, whichever the row holds; must be the kind earlier rows used (`dated`)."""
    text = parse_field(path, line, "submit_time", raw, str)
    if _is_seconds(text):
        if dated:
            raise TraceFormatError(path, line, "submit_time", f"{text!r} is seconds but earlier rows use dates")
        return parse_field(path, line, "submit_time", text, _seconds)
    if dated is False:
        raise TraceFormatError(path, line, "submit_time", f"{text!r} is not seconds, and earlier rows use seconds")
    return parse_field(path, line, "submit_time", text, _instant)


def _job(path: Path, line: int, row: dict[str, str], seen: set[str]) -> JobSpec:
    job_id = parse_field(path, line, "job_id", row.get("job_id"), str)
    if job_id in seen:
        raise TraceFormatError(path, line, "job_id", f"duplicate job id {job_id!r}")
    duration = parse_field(path, line, "duration", row.get("duration"), positive_float)
    gpus = parse_field(path, line, "num_gpus", row.get("num_gpus"), positive_int)
    raw_priority = (row.get("priority") or "").strip()
    priority = parse_field(path, line, "priority", raw_priority, int) if raw_priority else 0
    types = tuple(t.strip() for t in (row.get("allowed_types") or "").split(";") if t.strip())
    return JobSpec(
        job_id=job_id,
        submit_time=0.0,
        duration=duration,
        num_gpus=gpus,
        queue=_text(row, "queue") or "default",
        job_type=_text(row, "job_type"),
        user=_text(row, "user"),
        name=_text(row, "name"),
        allowed_types=types or None,
        priority=priority,
    )


def _text(row: dict[str, str], column: str) -> str | None:
    return (row.get(column) or "").strip() or None


def write_canonical(trace: Trace, path: str | Path) -> None:
    """Write `trace` so that `read_canonical` gives the same jobs back (dates when it has an epoch)."""
    with Path(path).open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for j in trace.jobs:
            submit = (
                (trace.epoch + timedelta(seconds=j.submit_time)).isoformat()
                if trace.epoch is not None
                else repr(j.submit_time)
            )
            out.writerow(
                [
                    j.job_id,
                    submit,
                    repr(j.duration),
                    j.num_gpus,
                    j.queue,
                    j.job_type or "",
                    j.user or "",
                    j.name or "",
                    ";".join(j.allowed_types or ()),
                    j.priority,
                ]
            )
