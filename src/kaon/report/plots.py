"""The comparison's plots as PNG files: JCT CDF, queue length and GPU utilisation over time, and a
bar chart per metric.

Figures are drawn with `matplotlib.figure.Figure` and its Agg canvas directly, never pyplot, so
making a report neither needs a display nor changes the caller's matplotlib backend. Timelines
hold one point per decision (tens of thousands); they are averaged into fixed bins first, which
keeps the files small and, unlike picking every n-th point, keeps the area (GPU-seconds) exact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from kaon.compare import ComparisonResult
from kaon.sim.engine import SimResult, Timeline
from kaon.sim.metrics import step_integral

BINS = 600
HOUR = 3600.0

BAR_METRICS = (
    ("avg_jct_s", "average JCT (h)", 1 / HOUR),
    ("p99_jct_s", "p99 JCT (h)", 1 / HOUR),
    ("avg_queue_s", "average queueing (h)", 1 / HOUR),
    ("avg_slowdown", "average slowdown", 1.0),
    ("makespan_s", "makespan (h)", 1 / HOUR),
    ("gpu_util", "GPU utilisation", 1.0),
    ("preemptions", "preemptions", 1.0),
    ("ftf_rho_max", "max finish-time fairness rho", 1.0),
)


def binned(
    timeline: Timeline, values: np.ndarray, end: float | None = None, bins: int = BINS
) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and the time-average of the step function `values` in each of `bins` equal
    bins from the timeline's start to `end` (default: its last event)."""
    t = timeline.time
    stop = t[-1] if end is None and len(t) else end
    if len(t) < 2 or stop is None or stop <= t[0]:
        return t.astype(np.float64), values.astype(np.float64)
    edges = np.linspace(t[0], stop, bins + 1)
    area = np.diff(step_integral(t, values, edges))
    return (edges[:-1] + edges[1:]) / 2, area / np.diff(edges)


def busy_period_end(comparison: ComparisonResult, share: float = 0.99) -> float | None:
    """The latest time, over policies, by which `share` of the jobs finished. Philly's longest
    jobs run for weeks after the rest are done; plotting up to here keeps the busy part legible."""
    ends = []
    for run in comparison.runs:
        finish = run.table.finish[run.table.finished]
        if len(finish):
            ends.append(float(np.quantile(finish, share)))
    return max(ends) if ends else None


def policy_colors(n: int) -> list[tuple[float, float, float, float]]:
    """One distinct colour per policy, the same in every plot: tab10, or tab20 past ten."""
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_jct_cdf(comparison: ComparisonResult, path: Path) -> Path:
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for run, color in zip(comparison.runs, policy_colors(len(comparison.runs))):
        jct = np.sort(run.table.jct[run.table.finished])
        if len(jct):
            ax.step(jct, np.arange(1, len(jct) + 1) / len(jct), where="post", label=run.spec, color=color)
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (s, log scale)")
    ax.set_ylabel("fraction of finished jobs")
    ax.set_title("JCT CDF")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def _plot_over_time(
    comparison: ComparisonResult,
    path: Path,
    series: Callable[[SimResult], np.ndarray],
    ylabel: str,
    title: str,
    ylim: tuple[float, float] | None = None,
) -> Path:
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    end = busy_period_end(comparison)
    for run, color in zip(comparison.runs, policy_colors(len(comparison.runs))):
        x, y = binned(run.result.timeline, series(run.result), end)
        ax.plot(x / HOUR, y, label=run.spec, linewidth=1.0, color=color)
    ax.set_xlabel("time since the scenario's start (h), until 99% of jobs finished under every policy")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_queue_length(comparison: ComparisonResult, path: Path) -> Path:
    return _plot_over_time(
        comparison, path, lambda r: r.timeline.pending, "pending jobs (bin average)", "Queue length over time"
    )


def plot_gpu_util(comparison: ComparisonResult, path: Path) -> Path:
    return _plot_over_time(
        comparison,
        path,
        lambda r: r.timeline.busy_gpus / max(r.total_gpus, 1),
        "busy GPUs / all GPUs (bin average)",
        "GPU utilisation over time",
        (0.0, 1.02),
    )


def plot_metric_bars(comparison: ComparisonResult, path: Path) -> Path:
    fig = Figure(figsize=(13, 6))
    names = [run.spec for run in comparison.runs]
    x = np.arange(len(names))
    colors = policy_colors(len(names))
    for i, (field, label, unit) in enumerate(BAR_METRICS):
        ax = fig.add_subplot(2, 4, i + 1)
        values = np.array([float(getattr(run.metrics, field)) for run in comparison.runs]) * unit
        ax.bar(x, np.nan_to_num(values), color=colors)
        ax.set_title(label, fontsize="medium")
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def write_plots(out_dir: Path, comparison: ComparisonResult) -> tuple[Path, ...]:
    """Every plot as a PNG in `out_dir`, in the order the report shows them."""
    return (
        plot_jct_cdf(comparison, out_dir / "jct_cdf.png"),
        plot_queue_length(comparison, out_dir / "queue_length.png"),
        plot_gpu_util(comparison, out_dir / "gpu_util.png"),
        plot_metric_bars(comparison, out_dir / "metrics.png"),
    )
