"""The files a comparison leaves behind: summary.json, jobs-<policy>.csv, PNG plots and report.html.

Each file has its own module; `write_report` writes them all into one directory and says where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kaon.compare import ComparisonResult, Scenario
from kaon.report.html import write_html
from kaon.report.jobs_csv import jobs_csv_name, write_jobs_csv
from kaon.report.plots import write_plots
from kaon.report.summary import write_summary


@dataclass(frozen=True, slots=True)
class ReportFiles:
    summary: Path
    jobs_csv: tuple[Path, ...]
    plots: tuple[Path, ...]
    html: Path


def write_report(out_dir: str | Path, scenario: Scenario, comparison: ComparisonResult) -> ReportFiles:
    """Write every report file of `comparison` into `out_dir` (created if missing)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = write_summary(out / "summary.json", scenario, comparison)
    names = [jobs_csv_name(r.spec) for r in comparison.runs]
    if len(set(names)) != len(names):
        raise ValueError(f"policy specs {[r.spec for r in comparison.runs]} give clashing file names {names}")
    csvs = tuple(write_jobs_csv(out / name, run.table) for name, run in zip(names, comparison.runs))
    plots = write_plots(out, comparison)
    html = write_html(out / "report.html", scenario, comparison, plots)
    return ReportFiles(summary, csvs, plots, html)
