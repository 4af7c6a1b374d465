"""`kaon traces`: look at a trace before simulating it (`inspect`), and list the readable formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kaon.traces.base import TraceFormatError
from kaon.traces.formats import HEADER_SIGNATURES, READERS, SUFFIXES, SUMMARIES, UnknownFormatError, read_trace
from kaon.traces.scenario import parse_instant, window
from kaon.traces.stats import TraceStats, trace_stats

traces_app = typer.Typer(no_args_is_help=True, help="Read, check and summarise job traces.")


@traces_app.command("inspect")
def inspect_trace(
    path: Annotated[Path, typer.Argument(help="Trace file (.gz is read transparently).")],
    format: Annotated[  # noqa: A002
        str | None, typer.Option("--format", "-f", help="Trace format; guessed from the file when omitted.")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Skip malformed rows (each is counted) instead of failing.")
    ] = False,
    start: Annotated[
        str | None, typer.Option(help="Keep jobs submitted from here: seconds, or a date for dated traces.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Keep jobs submitted before here: seconds or a date.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a trace: jobs, span, sizes, durations, offered load, queues, job types, skipped rows."""
    try:
        trace = read_trace(path, format, skip_bad=skip_bad)
        if start is not None or end is not None:
            lo = parse_instant(start, trace) if start is not None else None
            hi = parse_instant(end, trace) if end is not None else None
            trace = window(trace, lo, hi)
    except (TraceFormatError, UnknownFormatError, FileNotFoundError, ValueError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    stats = trace_stats(trace)
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), indent=2))
    else:
        _print(stats)


@traces_app.command("formats")
def list_formats() -> None:
    """List the trace formats kaon reads, with how each is recognised."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("format")
    table.add_column("what it is")
    table.add_column("recognised by")
    for name in READERS:
        if name in SUFFIXES:
            how = f"file suffix {SUFFIXES[name]}"
        else:
            how = "header: " + ",".join(HEADER_SIGNATURES[name])
        table.add_row(name, SUMMARIES[name], how)
    Console().print(table)


def _print(s: TraceStats) -> None:
    table = Table(title=f"{s.source} ({s.format})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("jobs", f"{s.jobs:,}")
    if s.span_s is not None:
        table.add_row("submit span", f"{_duration(s.span_s)} ({s.first_submit_s:,.0f} s .. {s.last_submit_s:,.0f} s)")
    if s.first_submit_date is not None and s.last_submit_date is not None:
        table.add_row("submitted", f"{s.first_submit_date:%Y-%m-%d %H:%M:%S} .. {s.last_submit_date:%Y-%m-%d %H:%M:%S}")
    if s.gpu_histogram:
        table.add_row("GPUs per job", ", ".join(f"{g}: {n:,}" for g, n in s.gpu_histogram))
    if s.duration is not None:
        d = s.duration
        table.add_row(
            "duration",
            f"p50 {_duration(d.p50)}, p90 {_duration(d.p90)}, p99 {_duration(d.p99)}, max {_duration(d.max)}",
        )
    table.add_row("GPU-hours", f"{s.gpu_hours:,.1f}")
    if s.offered_load_gpus is not None:
        table.add_row("offered load", f"{s.offered_load_gpus:,.1f} busy GPUs on average")
    table.add_row("queues", f"{len(s.queues)}: " + _top(s.queues))
    table.add_row("users", f"{s.users}")
    table.add_row("job types", f"{len(s.job_types)}: " + _top(s.job_types))
    table.add_row("skipped rows", f"{s.skipped:,}")
    for reason, n in s.skip_reasons:
        table.add_row("", f"{n:,} x {reason}")
    Console().print(table)


def _top(pairs: tuple[tuple[str, int], ...], limit: int = 5) -> str:
    shown = ", ".join(f"{k} ({n:,})" for k, n in pairs[:limit])
    return shown + (f", ... {len(pairs) - limit} more" if len(pairs) > limit else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def register(app: typer.Typer) -> None:
    """Adds `kaon traces ...` to `app`."""
    app.add_typer(traces_app, name="traces")
