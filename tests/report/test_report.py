"""The whole report: every file written, PNGs valid, HTML self-contained."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kaon.compare import ComparisonResult, Scenario
from kaon.report import write_report
from kaon.report.plots import binned
from kaon.sim.engine import Timeline

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_file(tmp_path: Path, scenario: Scenario, comparison: ComparisonResult) -> None:
    files = write_report(tmp_path / "out", scenario, comparison)
    out = tmp_path / "out"
    assert files.summary == out / "summary.json"
    assert [p.name for p in files.jobs_csv] == ["jobs-fifo.csv", "jobs-fifo_placement_spread.csv"]
    assert [p.name for p in files.plots] == ["jct_cdf.png", "queue_length.png", "gpu_util.png", "metrics.png"]
    for png in files.plots:
        assert png.read_bytes()[:8] == PNG_MAGIC
    html = files.html.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert html.count('src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html
    assert "fifo:placement=spread" in html and "avg_jct_s" in html


def test_binned_keeps_the_area() -> None:
    tl = Timeline(
        np.array([0.0, 10.0, 25.0, 40.0]),
        np.array([4, 2, 8, 0]),
        np.array([0, 1, 0, 0]),
        np.array([1, 1, 2, 0]),
    )
    x, y = binned(tl, tl.busy_gpus, bins=4)
    np.testing.assert_allclose(x, [5, 15, 25, 35])
    np.testing.assert_allclose(y, [4, 2, 5, 8])  # [20, 30) is half 2, half 8
    assert (y * 10).sum() == 4 * 10 + 2 * 15 + 8 * 15


def test_binned_up_to_an_end() -> None:
    tl = Timeline(np.array([0.0, 10.0, 40.0]), np.array([4, 2, 0]), np.array([0, 0, 0]), np.array([1, 1, 0]))
    x, y = binned(tl, tl.busy_gpus, end=20.0, bins=2)
    np.testing.assert_allclose(x, [5, 15])
    np.testing.assert_allclose(y, [4, 2])
