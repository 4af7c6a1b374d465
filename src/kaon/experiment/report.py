"""results.json (every number, for scripts) and learning.md (the tables docs/RESULTS.md shows).

Times in the markdown are hours. Each scenario gets a table of every run with its ratios to the bar;
the summary has one row per scenario and candidate (or one row per scenario with the bar alone when
no candidate was given, so the baseline part of the results can be published first).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from kaon.experiment.evaluate import ORACLES, EvaluationResult, Role, RunRow, ScenarioResult
from kaon.experiment.load import Sizing
from kaon.experiment.plan import EvaluationPlan, Window
from kaon.experiment.tuning import TunedSpec

RESULTS_JSON = "results.json"
LEARNING_MD = "learning.md"


def _h(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds / 3600:.2f}"


def _r(ratio: float) -> str:
    return "-" if math.isnan(ratio) else f"{ratio:.3f}"


def _label(run: RunRow) -> str:
    tags = [r.value for r in run.roles if r is not Role.BASELINE]
    return f"`{run.spec}`" + (f" ({', '.join(tags)})" if tags else "")


def scenario_table(s: ScenarioResult) -> list[str]:
    bar = s.bar
    lines = [
        f"#### {s.cluster}, load {s.sizing.target_load:g}, {s.window.label}",
        "",
        f"{s.jobs} jobs on {s.sizing.total_gpus} GPUs (cluster x{s.sizing.scale:.3g}, offered load "
        f"{s.sizing.achieved_load:.3f}); bar `{bar.spec}`; {len(s.runs)} policies in {s.wall_s:.0f} s.",
        "",
        "| policy | avg JCT (h) | p50 | p95 | p99 | avg queue (h) | preemptions | unfinished | avg / bar | p99 / bar |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in s.runs:
        lines.append(
            f"| {_label(run)} | {_h(run.avg_jct_s)} | {_h(run.p50_jct_s)} | {_h(run.p95_jct_s)} | "
            f"{_h(run.p99_jct_s)} | {_h(run.avg_queue_s)} | {run.preemptions} | {run.unfinished} | "
            f"{_r(run.avg_jct_s / bar.avg_jct_s)} | {_r(run.p99_jct_s / bar.p99_jct_s)} |"
        )
    return [*lines, ""]


def summary_table(result: EvaluationResult) -> list[str]:
    lines = [
        "| scenario | offered load | bar | bar avg JCT (h) | bar p99 (h) | oracle srtf avg / bar | "
        "oracle srpt-fm avg / bar | candidate | avg / bar | p99 / bar | goal | pass |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in result.scenarios:
        bar = s.bar
        oracles = [next((r for r in s.runs if r.spec == o), None) for o in ORACLES]
        ratios = " | ".join(_r(o.avg_jct_s / bar.avg_jct_s) if o else "-" for o in oracles)
        head = f"| {s.name} | {s.sizing.achieved_load:.2f} | `{bar.spec}` | {_h(bar.avg_jct_s)} | {_h(bar.p99_jct_s)} | {ratios} |"
        verdicts = s.verdicts()
        if not verdicts:
            lines.append(f"{head} - | - | - | {s.goal.text} | - |")
        for run, v in verdicts:
            extra = f", {v.extra_unfinished} more unfinished" if v.extra_unfinished > 0 else ""
            lines.append(
                f"{head} `{run.spec}` | {_r(v.avg_ratio)} | {_r(v.p99_ratio)} | {v.goal.text} | "
                f"{'pass' if v.passed else 'FAIL'}{extra} |"
            )
    return [*lines, ""]


def chosen_before_the_cut(result: EvaluationResult, cluster: str, load: float) -> str:
    """The bar policy an operator would have picked without seeing the test windows: the tuned
    spec with the lowest average JCT on the training windows of that cluster and load."""
    tuned = [t for t in result.tuned if t.cluster == cluster and t.load == load]
    return min(tuned, key=lambda t: t.objective_s).spec


def hindsight_table(result: EvaluationResult) -> list[str]:
    """The bar is the best of the tuned baselines *on each test window*, a choice made with
    hindsight; this shows what that choice is worth, and each candidate against the baseline that
    was best on the training windows instead. Information only: the verdicts are against the bar."""
    lines = [
        "| scenario | chosen before the cut | its avg / bar | candidate | avg / it |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in result.scenarios:
        spec = chosen_before_the_cut(result, s.cluster, s.sizing.target_load)
        chosen = next(r for r in s.runs if r.spec == spec)
        head = f"| {s.name} | `{spec}` | {_r(chosen.avg_jct_s / s.bar.avg_jct_s)} |"
        candidates = [r for r in s.runs if Role.CANDIDATE in r.roles] or [None]
        for run in candidates:
            tail = f" `{run.spec}` | {_r(run.avg_jct_s / chosen.avg_jct_s)} |" if run else " - | - |"
            lines.append(head + tail)
    return [*lines, ""]


def tuned_table(result: EvaluationResult) -> list[str]:
    lines = [
        "| cluster | load | policy | tuned spec | training avg JCT (h) | trials | wall (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in result.tuned:
        lines.append(f"| {t.cluster} | {t.load:g} | {t.policy} | `{t.spec}` | {_h(t.objective_s)} | {t.trials} | "
                     f"{t.wall_s:.0f} |")
    return [*lines, ""]


def markdown(result: EvaluationResult) -> str:
    plan = result.plan
    lines = [
        f"Trace `{plan.trace}`, training cut {plan.until}; training windows "
        f"{', '.join(w.label for w in plan.train_windows)}; test windows "
        f"{', '.join(w.label for w in plan.test_windows)}; loads {', '.join(f'{x:g}' for x in plan.loads)}; "
        f"restart overhead {plan.restart_overhead_s:g} s; job-type seed {plan.seed}. Tuning "
        f"{result.tuning_wall_s:.0f} s, evaluation {result.evaluation_wall_s:.0f} s wall, {result.workers} workers.",
        "",
        "### Summary",
        "",
        *summary_table(result),
        "### The bar's hindsight",
        "",
        *hindsight_table(result),
        "### Tuned bar parameters (training windows only)",
        "",
        *tuned_table(result),
        "### Scenarios",
        "",
    ]
    for s in result.scenarios:
        lines += scenario_table(s)
    return "\n".join(lines)


def _scenario_json(s: ScenarioResult) -> dict[str, object]:
    return {
        "name": s.name,
        "cluster": s.cluster,
        "window": s.window.label,
        "heterogeneous": s.heterogeneous,
        "sizing": asdict(s.sizing),
        "jobs": s.jobs,
        "wall_s": s.wall_s,
        "bar": s.bar.spec,
        "goal": asdict(s.goal),
        "runs": [{**asdict(r), "roles": [x.value for x in r.roles]} for r in s.runs],
        "verdicts": [{"spec": r.spec, **asdict(v), "passed": v.passed} for r, v in s.verdicts()],
    }


def read_results(path: Path) -> EvaluationResult:
    """An `EvaluationResult` back from its results.json (to re-render learning.md, or to script
    over a finished run without replaying it)."""
    doc = json.loads(path.read_text())
    p = doc["plan"]
    plan = EvaluationPlan(
        **{**p, "train_windows": tuple(Window(**w) for w in p["train_windows"]),
           "test_windows": tuple(Window(**w) for w in p["test_windows"]), "loads": tuple(p["loads"]),
           "clusters": tuple(p["clusters"])}
    )  # fmt: skip
    by_label = {w.label: w for w in plan.test_windows}
    scenarios = tuple(
        ScenarioResult(
            by_label[s["window"]], s["cluster"], s["heterogeneous"], Sizing(**s["sizing"]), s["jobs"],
            tuple(RunRow(**{**_null_to_nan(r), "roles": tuple(Role(x) for x in r["roles"])}) for r in s["runs"]),
            s["wall_s"],
        )  # fmt: skip
        for s in doc["scenarios"]
    )
    tuned = tuple(TunedSpec(**t) for t in doc["tuned"])
    return EvaluationResult(plan, tuned, scenarios, doc["tuning_wall_s"], doc["evaluation_wall_s"], doc["workers"])


def _null_to_nan(row: dict[str, object]) -> dict[str, object]:
    return {k: math.nan if v is None and k.endswith("_s") else v for k, v in row.items()}


def write_results(out: Path, result: EvaluationResult) -> tuple[Path, Path]:
    """Write results.json and learning.md into `out`; NaN is written as null."""
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "plan": asdict(result.plan),
        "tuning_wall_s": result.tuning_wall_s,
        "evaluation_wall_s": result.evaluation_wall_s,
        "workers": result.workers,
        "tuned": [asdict(t) for t in result.tuned],
        "scenarios": [_scenario_json(s) for s in result.scenarios],
    }
    json_path, md_path = out / RESULTS_JSON, out / LEARNING_MD
    json_path.write_text(json.dumps(_nan_to_null(doc), indent=2) + "\n")
    md_path.write_text(markdown(result) + "\n")
    return json_path, md_path


def _nan_to_null(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_null(v) for v in value]
    return value
