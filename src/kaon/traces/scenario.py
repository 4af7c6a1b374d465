"""Cutting and reshaping a trace: a time window and load scaling.

`window` keeps jobs submitted in [start, end) and rebases time to the window's start, so every
window replays from an empty cluster, but not from an empty past: the jobs that finished in the
week before it come along as `Trace.prior`, for the policies that predict runtimes. `scale_load`
divides inter-arrival times by a factor: 2.0 offers twice the work per unit time with the same
jobs (the way Gavel and Tiresias vary load).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kaon.core.job import PriorJob, Trace


def parse_instant(value: str, trace: Trace) -> float:
    """Seconds since the trace epoch, from an ISO date/time (needs a dated trace) or plain seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    if trace.epoch is None:
        raise ValueError(f"{trace.source}: trace has no dates, give --start/--end in seconds, not {value!r}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"cannot read {value!r} as a date (YYYY-MM-DD[ HH:MM:SS]) or seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - trace.epoch).total_seconds()


PRIOR_S = 7 * 86400.0
"""How far back a window keeps the jobs that finished before its start (`Trace.prior`): enough for
the predictor's per-group "last k jobs" features; bounded so that a window shipped to worker
processes stays small (Philly finishes about 600 jobs a day)."""


def window(trace: Trace, start: float | None = None, end: float | None = None) -> Trace:
    """Jobs with start <= submit_time < end, time rebased to `start`, with the jobs that finished
    in the `PRIOR_S` before `start` as its `prior`. A job's finish is taken as submit + duration,
    the earliest it can have finished (the traces record no start times), as the predictor's
    offline history features take it; a job still running at `start` is in neither."""
    lo = start if start is not None else 0.0
    hi = end if end is not None else float("inf")
    if hi <= lo:
        raise ValueError(f"window end ({hi}) must be after its start ({lo})")
    jobs = [replace(j, submit_time=j.submit_time - lo) for j in trace.jobs if lo <= j.submit_time < hi]
    epoch = trace.epoch + timedelta(seconds=lo) if trace.epoch is not None else None
    since = lo - PRIOR_S
    done = [PriorJob(p.spec, p.finish - lo) for p in trace.prior if p.finish >= since]
    done += [
        PriorJob(j, j.submit_time + j.duration - lo)
        for j in trace.jobs
        if j.submit_time < lo and since <= j.submit_time + j.duration <= lo
    ]
    done.sort(key=lambda p: p.finish)
    return replace(trace, jobs=tuple(jobs), epoch=epoch, prior=tuple(done))


def scale_load(trace: Trace, factor: float) -> Trace:
    """Arrivals `factor` times as dense (submit times divided by `factor`); durations unchanged."""
    if not factor > 0:
        raise ValueError(f"load scale must be > 0, got {factor}")
    if factor == 1.0:
        return trace
    return trace.with_jobs([replace(j, submit_time=j.submit_time / factor) for j in trace.jobs])
