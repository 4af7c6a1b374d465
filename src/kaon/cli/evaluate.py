"""`kaon evaluate`: candidate policies against the tuned baselines after a training cut.

Thin: options become an `EvaluationPlan` and candidate specs, `kaon.experiment` does the work and
writes results.json and learning.md. Bad input ends with one `error:` line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kaon.cli.run import DEFAULT_WORKERS, WorkersOpt, _fail
from kaon.experiment import DEFAULT_PLAN, run_evaluation
from kaon.experiment.plan import candidate_specs, plan_from_text, windows_text
from kaon.experiment.report import write_results


def evaluate_command(
    out: Annotated[Path, typer.Option("--out", help="directory for tuned.json, results.json and learning.md")],
    learned: Annotated[
        list[str] | None,
        typer.Option("--learned", help="CLUSTER=DIR: judge learned:path=DIR on that cluster (repeatable)"),
    ] = None,
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="another candidate spec, run on every cluster (repeatable)")
    ] = None,
    trace: Annotated[str, typer.Option("--trace", help="trace file, or a bundled trace's file name")] = (
        DEFAULT_PLAN.trace
    ),
    until: Annotated[str, typer.Option("--until", help="training cut: tuning sees only jobs before it")] = (
        DEFAULT_PLAN.until
    ),
    train_windows: Annotated[str, typer.Option("--train-windows", help="START..END,... before the cut")] = (
        windows_text(DEFAULT_PLAN.train_windows)
    ),
    test_windows: Annotated[str, typer.Option("--test-windows", help="START..END,... after the cut")] = (
        windows_text(DEFAULT_PLAN.test_windows)
    ),
    loads: Annotated[str, typer.Option("--loads", help="offered loads, e.g. 1,2")] = ",".join(
        f"{x:g}" for x in DEFAULT_PLAN.loads
    ),
    clusters: Annotated[str, typer.Option("--clusters", help="cluster specs or bundled names")] = ",".join(
        DEFAULT_PLAN.clusters
    ),
    seed: Annotated[int, typer.Option("--seed", help="seed for sampled job types on heterogeneous clusters")] = 0,
    retune: Annotated[bool, typer.Option("--retune", help="tune again even if tuned.json matches the plan")] = False,
    workers: WorkersOpt = DEFAULT_WORKERS,
) -> None:
    """Tune the baselines before the cut, replay every test scenario, and judge candidates against the bar."""
    console = Console()
    try:
        plan = plan_from_text(trace, until, train_windows, test_windows, loads, clusters, seed)
        candidates = candidate_specs(plan.clusters, learned or [], policy or [])
        result = run_evaluation(plan, out, workers, candidates, retune, log=console.print)
    except (ValueError, OSError) as e:  # PlanError, ScenarioError, PolicyParamError, a bad trace row
        _fail(str(e))
    json_path, md_path = write_results(out, result)
    console.print(f"wrote {json_path} and {md_path}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)
