"""report.html: one self-contained page (PNG plots embedded as base64, no network) with the
scenario, a table of every metric per policy, and the plots."""

from __future__ import annotations

import base64
import html
from dataclasses import fields
from pathlib import Path

from kaon.compare import ComparisonResult, Scenario
from kaon.report.summary import metrics_document, scenario_document
from kaon.sim.metrics import PolicyMetrics

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def _cell(value: object) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, dict):
        return html.escape(", ".join(f"{k}: {v}" for k, v in value.items()))
    return html.escape(str(value))


def _scenario_table(scenario: Scenario, comparison: ComparisonResult) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>"
        for k, v in scenario_document(scenario, comparison).items()
    )
    return f"<table>{rows}</table>"


def _metrics_table(comparison: ComparisonResult) -> str:
    names = [f.name for f in fields(PolicyMetrics)]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["policy", *names])
    body = []
    for run in comparison.runs:
        doc = metrics_document(run.metrics)
        cells = "".join(f"<td>{_cell(doc[n])}</td>" for n in names)
        body.append(f"<tr><td>{html.escape(run.spec)}</td>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def render_html(scenario: Scenario, comparison: ComparisonResult, plots: tuple[Path, ...]) -> str:
    title = f"kaon: {len(comparison.runs)} policies on {scenario.spec.trace} / {scenario.cluster.name}"
    images = "\n".join(_image(p) for p in plots)
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<h2>Scenario</h2>
{_scenario_table(scenario, comparison)}
<h2>Metrics</h2>
<p>Times in seconds; definitions in docs/SUMMARY_JSON.md of the kaon repository.</p>
{_metrics_table(comparison)}
<h2>Plots</h2>
{images}
</body>
</html>
"""


def write_html(path: Path, scenario: Scenario, comparison: ComparisonResult, plots: tuple[Path, ...]) -> Path:
    path.write_text(render_html(scenario, comparison, plots), encoding="utf-8")
    return path
