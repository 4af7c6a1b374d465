"""What is in a trace, in numbers: the summary `kaon traces inspect` prints.

The summary answers the questions one asks before simulating a trace: how many jobs over how long,
how big and how long they are, how much work they offer, and what the reader had to skip. Offered
load is total GPU-seconds divided by the submit span (first to last submit): the average number of
GPUs that would be busy if the cluster ran every job as it arrived, so a cluster with fewer GPUs
than that cannot keep up, whatever the policy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np

from kaon.core.job import Trace
from kaon.traces.skips import reason_of

UNTYPED = "(none)"


@dataclass(frozen=True, slots=True)
class DurationStats:
    """Job durations in seconds (runtime on the reference type)."""

    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True, slots=True)
class TraceStats:
    """A trace's summary. Counts are `(value, count)` pairs, most frequent first except for the
    GPU-count histogram, which is by GPU count. Fields about jobs are None for an empty trace."""

    source: str
    format: str
    jobs: int
    first_submit_s: float | None
    last_submit_s: float | None
    span_s: float | None
    first_submit_date: datetime | None
    last_submit_date: datetime | None
    gpu_histogram: tuple[tuple[int, int], ...]
    duration: DurationStats | None
    gpu_hours: float
    offered_load_gpus: float | None
    queues: tuple[tuple[str, int], ...]
    users: int
    job_types: tuple[tuple[str, int], ...]
    skipped: int
    skip_reasons: tuple[tuple[str, int], ...]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: dates as ISO strings, pairs as lists."""
        out = asdict(self)
        for key in ("first_submit_date", "last_submit_date"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value is not None else None
        return out


def trace_stats(trace: Trace) -> TraceStats:
    jobs = trace.jobs
    submit = np.fromiter((j.submit_time for j in jobs), dtype=np.float64, count=len(jobs))
    duration = np.fromiter((j.duration for j in jobs), dtype=np.float64, count=len(jobs))
    gpus = np.fromiter((j.num_gpus for j in jobs), dtype=np.int64, count=len(jobs))
    gpu_seconds = float(np.dot(duration, gpus))
    first = float(submit.min()) if jobs else None
    last = float(submit.max()) if jobs else None
    span = last - first if first is not None and last is not None else None
    sizes, counts = np.unique(gpus, return_counts=True)
    return TraceStats(
        source=trace.source,
        format=trace.format,
        jobs=len(jobs),
        first_submit_s=first,
        last_submit_s=last,
        span_s=span,
        first_submit_date=_date(trace, first),
        last_submit_date=_date(trace, last),
        gpu_histogram=tuple((int(s), int(c)) for s, c in zip(sizes, counts)),
        duration=_durations(duration),
        gpu_hours=gpu_seconds / 3600.0,
        offered_load_gpus=gpu_seconds / span if span else None,
        queues=_counted(j.queue for j in jobs),
        users=len({j.user for j in jobs if j.user is not None}),
        job_types=_counted(j.job_type or UNTYPED for j in jobs),
        skipped=len(trace.skipped),
        skip_reasons=_counted(reason_of(s) for s in trace.skipped),
    )


def _durations(duration: np.ndarray) -> DurationStats | None:
    if duration.size == 0:
        return None
    p50, p90, p99 = (float(x) for x in np.percentile(duration, [50, 90, 99]))
    return DurationStats(p50, p90, p99, float(duration.max()))


def _date(trace: Trace, seconds: float | None) -> datetime | None:
    if trace.epoch is None or seconds is None:
        return None
    return trace.epoch + timedelta(seconds=seconds)


def _counted(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(Counter(values).most_common())
