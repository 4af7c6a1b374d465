"""`kaon tune`: choose a policy's parameters on a history window (see `kaon.tune`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kaon.cli.run import (
    ClusterOpt,
    ClusterScaleOpt,
    EndOpt,
    FormatOpt,
    LoadOpt,
    OverheadOpt,
    SeedOpt,
    SkipOpt,
    StartOpt,
    TraceOpt,
    _fail,
    _load,
)
from kaon.compare import ScenarioSpec
from kaon.policy.registry import available
from kaon.sim.engine import SimConfig
from kaon.tune import Trial, parse_grid, tune


def tune_command(
    policy: Annotated[str, typer.Option("--policy", help="policy name to tune")],
    trace: TraceOpt,
    cluster: ClusterOpt,
    format: FormatOpt = None,  # noqa: A002
    start: StartOpt = None,
    end: EndOpt = None,
    load_scale: LoadOpt = 1.0,
    cluster_scale: ClusterScaleOpt = 1.0,
    skip_bad: SkipOpt = False,
    restart_overhead: OverheadOpt = SimConfig().restart_overhead_s,
    seed: SeedOpt = 0,
    grid: Annotated[
        str | None,
        typer.Option("--grid", help="candidates, e.g. 'lease=60;360,thresholds=3600|36000;1800|18000'"),
    ] = None,
) -> None:
    """Pick POLICY's parameters that minimise average JCT on a history window; prints the spec to use."""
    if policy not in available():
        _fail(f"unknown policy {policy!r}; known: {', '.join(available())}")
    console = Console()
    try:
        parsed = parse_grid(grid) if grid else None
    except ValueError as e:
        _fail(str(e))
    spec = ScenarioSpec(trace, cluster, format, start, end, load_scale, cluster_scale, seed, skip_bad)
    scenario = _load(spec, console)

    def show(trial: Trial) -> None:
        console.print(f"{trial.objective / 3600:9.2f} h  {trial.spec}")

    try:
        result = tune(policy, scenario.trace, scenario.cluster, SimConfig(restart_overhead), parsed, on_trial=show)
    except ValueError as e:
        _fail(str(e))
    console.print(f"best: [bold]{result.best_spec}[/bold] (avg JCT {result.best_objective / 3600:.2f} h, "
                  f"{len(result.trials)} trials)")


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
