"""`kaon simulate`, `kaon compare` and `kaon demo`: replay a trace under policies and report.

Thin on purpose: options become a `ScenarioSpec` and policy specs, `kaon.compare` does the work,
`kaon.report` writes the files. Bad input (a missing file, a malformed row, an unknown policy or
parameter, a bad cluster spec or window) ends with one `error:` line and exit code 2.
"""

from __future__ import annotations

import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kaon.compare import (
    DEMO,
    ComparisonResult,
    Scenario,
    ScenarioError,
    ScenarioSpec,
    build_policies,
    demo_policies,
    load_scenario,
    run_comparison,
)
from kaon.cli.console import report_console
from kaon.policy.base import PolicyParamError
from kaon.quota.quotas import QuotaBook, QuotaError, load_quotas
from kaon.sim.engine import ProgressFn, SimConfig
from kaon.sim.metrics import PolicyMetrics

EXIT_BAD_INPUT = 2
DEFAULT_OVERHEAD_S = SimConfig().restart_overhead_s

TraceOpt = Annotated[str, typer.Option("--trace", help="trace file, or the file name of a bundled trace")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="trace format (default: detected from the header)")]
ClusterOpt = Annotated[str, typer.Option("--cluster", help="cluster spec YAML, or a bundled cluster name")]
StartOpt = Annotated[str | None, typer.Option("--start", help="window start: ISO date/time or seconds")]
EndOpt = Annotated[str | None, typer.Option("--end", help="window end (exclusive): ISO date/time or seconds")]
LoadOpt = Annotated[float, typer.Option("--load-scale", help="arrivals this many times as dense")]
ClusterScaleOpt = Annotated[float, typer.Option("--cluster-scale", help="multiply each node group's count")]
SkipOpt = Annotated[bool, typer.Option("--skip-bad", help="skip malformed trace rows (reported) instead of failing")]
OverheadOpt = Annotated[
    float, typer.Option("--restart-overhead", min=0.0, help="seconds a preempted job takes to resume")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed for sampled job types on heterogeneous clusters")]
WorkersOpt = Annotated[
    int, typer.Option("--workers", min=1, help="policies replayed in parallel processes (default: CPU count)")
]
DEFAULT_WORKERS = os.cpu_count() or 1
QuotasOpt = Annotated[
    Path | None, typer.Option("--quotas", help="queues' fair-share quotas (YAML, docs/QUOTAS.md) to replay")
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _check_policies(policy_specs: list[str]) -> None:
    """Fail on a bad policy spec before spending seconds reading a trace."""
    try:
        build_policies(policy_specs)
    except PolicyParamError as e:
        _fail(str(e))


def _load(spec: ScenarioSpec, console: Console) -> Scenario:
    try:
        scenario = load_scenario(spec)
    except ScenarioError as e:
        _fail(str(e))
    skipped = scenario.trace.skipped
    if skipped:
        console.print(
            f"skipped {len(skipped)} row(s) (malformed or not a GPU job; `kaon traces inspect` groups "
            f"the reasons); first: {skipped[0]}"
        )
    console.print(
        f"{len(scenario.trace)} jobs from {spec.trace} on {scenario.cluster.name} "
        f"({scenario.cluster.total_gpus} GPUs)"
    )
    return scenario


def _quotas(path: Path | None, scenario: Scenario) -> QuotaBook | None:
    if path is None:
        return None
    try:
        book = load_quotas(path)
        book.bind(scenario.cluster)
    except (QuotaError, OSError) as e:
        _fail(str(e))
    return book


def _run(
    scenario: Scenario,
    policy_specs: list[str],
    config: SimConfig,
    console: Console,
    workers: int = 1,
    quotas: QuotaBook | None = None,
) -> ComparisonResult:
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:

        def factory(spec: str) -> ProgressFn:
            task = progress.add_task(spec, total=None)

            def update(finished: int, total: int) -> None:
                progress.update(task, completed=finished, total=total)

            return update

        return run_comparison(scenario.trace, scenario.cluster, policy_specs, config, factory, workers, quotas)


def _write(out: Path, scenario: Scenario, comparison: ComparisonResult, console: Console) -> None:
    # Imported here: the report draws with matplotlib, which commands that print only never need.
    from kaon.report import write_report

    try:
        files = write_report(out, scenario, comparison)
    except OSError as e:
        _fail(f"{out}: cannot write the report: {e}")
    console.print(f"wrote {files.summary}, {len(files.jobs_csv)} jobs CSV file(s) and {len(files.plots)} plots")
    console.print(f"report: {files.html}")


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if abs(seconds) < 120:
        return f"{seconds:.1f}s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f}m"
    if abs(seconds) < 5 * 86400:
        return f"{seconds / 3600:.2f}h"
    return f"{seconds / 86400:.1f}d"


def _ratio(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def comparison_table(comparison: ComparisonResult) -> Table:
    """Rows are policies, columns the key metrics and the average JCT relative to the best; narrow
    enough for an 80-column terminal (makespan and the rest are in the report)."""
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("policy", no_wrap=True)
    for col in ("avg\nJCT", "p99\nJCT", "avg\nqueue", "avg\nslowdn", "GPU\nutil", "pre-\nempts",
                "rho\nmax", "un-\nfinished", "JCT /\nbest"):  # fmt: skip
        table.add_column(col, justify="right", no_wrap=True)
    best = comparison.best_avg_jct()
    for run in comparison.runs:
        m = run.metrics
        table.add_row(
            run.spec,
            _duration(m.avg_jct_s),
            _duration(m.p99_jct_s),
            _duration(m.avg_queue_s),
            _ratio(m.avg_slowdown),
            _ratio(m.gpu_util),
            str(m.preemptions),
            _ratio(m.ftf_rho_max),
            str(m.unfinished),
            _ratio(m.avg_jct_s / best),
        )
    return table


def metrics_table(spec: str, metrics: PolicyMetrics) -> Table:
    """Every metric of one policy, with times also in readable units."""
    table = Table(title=spec, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for f in fields(metrics):
        value = getattr(metrics, f.name)
        if isinstance(value, int):
            text = str(value)
        elif math.isnan(value):
            text = "-"
        elif f.name.endswith("_s"):
            text = f"{value:.3f} ({_duration(value)})"
        else:
            text = _ratio(value, 4)
        table.add_row(f.name, text)
    return table


def simulate(
    trace: TraceOpt,
    cluster: ClusterOpt,
    policy: Annotated[str, typer.Option("--policy", help="policy spec: name or name:key=value,...")],
    format: FormatOpt = None,  # noqa: A002 - the option's name
    start: StartOpt = None,
    end: EndOpt = None,
    load_scale: LoadOpt = 1.0,
    cluster_scale: ClusterScaleOpt = 1.0,
    skip_bad: SkipOpt = False,
    restart_overhead: OverheadOpt = DEFAULT_OVERHEAD_S,
    seed: SeedOpt = 0,
    quotas: QuotasOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="write summary.json, jobs CSV and report here")] = None,
) -> None:
    """Replay a trace under one policy and print its metrics."""
    console = report_console()
    _check_policies([policy])
    spec = ScenarioSpec(trace, cluster, format, start, end, load_scale, cluster_scale, seed, skip_bad)
    scenario = _load(spec, console)
    config = SimConfig(restart_overhead_s=restart_overhead)
    comparison = _run(scenario, [policy], config, console, quotas=_quotas(quotas, scenario))
    console.print(metrics_table(policy, comparison.runs[0].metrics))
    if out is not None:
        _write(out, scenario, comparison, console)


def compare(
    trace: TraceOpt,
    cluster: ClusterOpt,
    policies: Annotated[
        str, typer.Option("--policies", help="comma-separated policy specs, e.g. fifo,sjf,tiresias:queues=3")
    ],
    out: Annotated[Path, typer.Option("--out", help="directory for summary.json, jobs CSVs and report.html")],
    format: FormatOpt = None,  # noqa: A002 - the option's name
    start: StartOpt = None,
    end: EndOpt = None,
    load_scale: LoadOpt = 1.0,
    cluster_scale: ClusterScaleOpt = 1.0,
    skip_bad: SkipOpt = False,
    restart_overhead: OverheadOpt = DEFAULT_OVERHEAD_S,
    seed: SeedOpt = 0,
    workers: WorkersOpt = DEFAULT_WORKERS,
    quotas: QuotasOpt = None,
) -> None:
    """Replay one trace under several policies, print a table and write a report."""
    console = report_console()
    specs = split_policies(policies)
    _check_policies(specs)
    spec = ScenarioSpec(trace, cluster, format, start, end, load_scale, cluster_scale, seed, skip_bad)
    scenario = _load(spec, console)
    config = SimConfig(restart_overhead_s=restart_overhead)
    comparison = _run(scenario, specs, config, console, workers, _quotas(quotas, scenario))
    console.print(comparison_table(comparison))
    _write(out, scenario, comparison, console)


def split_policies(text: str) -> list[str]:
    """`a,b:k=v,c` -> specs. A comma starts a new spec unless the piece is `key=value` following a
    spec with parameters (`tiresias:queues=3,thresholds=3600;7200,fifo` is two specs)."""
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if specs and ":" in specs[-1] and "=" in piece and ":" not in piece:
            specs[-1] = f"{specs[-1]},{piece}"
        else:
            specs.append(piece)
    if not specs:
        _fail("--policies is empty")
    return specs


def demo(
    out: Annotated[Path, typer.Option("--out", help="directory for the report")] = Path("kaon-demo"),
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Every baseline policy on a busy week of the bundled Philly trace on Gavel's cluster."""
    console = report_console()
    policies = list(demo_policies())
    console.print(f"demo: {DEMO.trace} {DEMO.start} .. {DEMO.end} on {DEMO.cluster}; policies: {', '.join(policies)}")
    scenario = _load(DEMO, console)
    comparison = _run(scenario, policies, SimConfig(), console, workers)
    console.print(comparison_table(comparison))
    _write(out, scenario, comparison, console)


def register(app: typer.Typer) -> None:
    """Adds `simulate`, `compare` and `demo` to `app`."""
    app.command("simulate")(simulate)
    app.command("compare")(compare)
    app.command("demo")(demo)
