"""Microsoft Philly (ATC'19), as the CSV of submit timestamp, duration, GPUs and virtual cluster.

Columns: `timestamp` (UTC, `YYYY-MM-DD HH:MM:SS`), `duration` (s), `num_gpus`, `gpu_time` (s),
`cluster` (virtual cluster id, used as the job's queue). Philly records no job types; on a
heterogeneous cluster kaon assigns them with `kaon.traces.jobtypes.assign_job_types`.
"""

from __future__ import annotations

from datetime import UTC, datetime
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

REQUIRED = ("timestamp", "duration", "num_gpus", "cluster")


def _timestamp(raw: str) -> datetime:
    return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def read_philly(path: str | Path, *, skip_bad: bool = False) -> Trace:
    path = Path(path)
    errors = RowErrors(skip_bad)
    rows: list[tuple[datetime, float, int, str, int]] = []
    with open_text(path) as f:
        reader = csv_rows(f, path, REQUIRED)
        for row in reader:
            line = reader.line_num
            try:
                ts = parse_field(path, line, "timestamp", row.get("timestamp"), _timestamp)
                dur = parse_field(path, line, "duration", row.get("duration"), positive_float)
                gpus = parse_field(path, line, "num_gpus", row.get("num_gpus"), positive_int)
                vc = parse_field(path, line, "cluster", row.get("cluster"), str)
            except TraceFormatError as e:
                errors.handle(e)
                continue
            rows.append((ts, dur, gpus, vc, line))
    if not rows:
        return Trace((), str(path), "philly", None, tuple(errors.skipped))
    epoch = min(r[0] for r in rows)
    jobs = [
        JobSpec(
            job_id=f"philly-{line}",
            submit_time=(ts - epoch).total_seconds(),
            duration=dur,
            num_gpus=gpus,
            queue=vc,
        )
        for ts, dur, gpus, vc, line in rows
    ]
    return Trace(tuple(jobs), str(path), "philly", epoch, tuple(errors.skipped))
