"""summary.json: the stable, documented contract of a comparison (see docs/SUMMARY_JSON.md).

Keys come in a fixed order (scenario first, then policies in the order they were given), floats
are rounded (seconds to the millisecond, ratios to 4 decimals) and a metric that is undefined
(e.g. no job finished) is `null`, so two runs of the same scenario give byte-identical metrics
apart from `sim_wall_s`.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import kaon
from kaon.compare import ComparisonResult, Scenario
from kaon.sim.metrics import PolicyMetrics

SCENARIO_KEYS = ("trace", "format", "window", "cluster", "jobs")
"""The contract's scenario keys; the extra keys after them are informative and may grow."""


def _instant(value: str | None) -> str | float | None:
    """A window bound as the user gave it: seconds as a number, a date as its ISO string."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _number(name: str, value: float | int) -> float | int | None:
    if isinstance(value, int):
        return value
    if math.isnan(value):
        return None
    return round(value, 3 if name.endswith("_s") else 4)


def metrics_document(metrics: PolicyMetrics) -> dict[str, float | int | None]:
    """A policy's entry: every `PolicyMetrics` field, in declaration order, rounded."""
    return {f.name: _number(f.name, getattr(metrics, f.name)) for f in fields(metrics)}


def scenario_document(scenario: Scenario, comparison: ComparisonResult) -> dict[str, object]:
    spec = scenario.spec
    return {
        "trace": spec.trace,
        "format": scenario.trace.format,
        "window": {"start": _instant(spec.start), "end": _instant(spec.end)},
        "cluster": scenario.cluster.name,
        "jobs": len(scenario.trace),
        "cluster_gpus": scenario.cluster.total_gpus,
        "cluster_scale": spec.cluster_scale,
        "load_scale": spec.load_scale,
        "seed": spec.seed,
        "restart_overhead_s": comparison.config.restart_overhead_s,
        "skipped_rows": len(scenario.trace.skipped),
        "kaon_version": kaon.__version__,
    }


def summary_document(scenario: Scenario, comparison: ComparisonResult) -> dict[str, object]:
    return {
        "scenario": scenario_document(scenario, comparison),
        "policies": {run.spec: metrics_document(run.metrics) for run in comparison.runs},
    }


def write_summary(path: Path, scenario: Scenario, comparison: ComparisonResult) -> Path:
    path.write_text(json.dumps(summary_document(scenario, comparison), indent=2, allow_nan=False) + "\n")
    return path
