"""`kaon traces inspect` and `kaon traces formats` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaon.cli.app import app

runner = CliRunner()


def _json(*args: str) -> dict:
    result = runner.invoke(app, ["traces", "inspect", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("name", "fmt", "jobs", "skipped"),
    [
        ("gavel-msr-2869ce.trace.gz", "gavel", 533, 0),
        ("tiresias-60job.csv", "tiresias", 60, 0),
        ("alibaba-2023-pods-1000.csv", "alibaba", 884, 116),
        ("slurm-sample.txt", "slurm", 31, 9),
    ],
)
def test_inspect_json_on_bundled_samples(data_dir: Path, name: str, fmt: str, jobs: int, skipped: int) -> None:
    out = _json(str(data_dir / "traces" / name))
    assert (out["format"], out["jobs"], out["skipped"]) == (fmt, jobs, skipped)
    assert sum(n for _, n in out["gpu_histogram"]) == jobs
    assert sum(n for _, n in out["skip_reasons"]) == skipped


def test_inspect_table_shows_skip_reasons(data_dir: Path) -> None:
    result = runner.invoke(app, ["traces", "inspect", str(data_dir / "traces" / "alibaba-2023-pods-1000.csv")])
    assert result.exit_code == 0, result.output
    assert "884" in result.stdout and "116 x CPU-only pod (num_gpu=0)" in result.stdout


def test_inspect_window_on_dated_trace(data_dir: Path) -> None:
    path = str(data_dir / "traces" / "slurm-sample.txt")
    out = _json(path, "--start", "2024-03-04 09:00", "--end", "2024-03-04T10:00:00")
    assert out["first_submit_date"] >= "2024-03-04T09:00:00" and out["last_submit_date"] < "2024-03-04T10:00:00"
    assert out["jobs"] == 10  # 81214 .. 81219 and array tasks 81220_1 .. 81220_4
    seconds = _json(path, "--start", "3600", "--end", "7200")
    assert seconds["jobs"] == out["jobs"]


def test_inspect_format_option_and_skip_bad(tmp_path: Path) -> None:
    p = tmp_path / "weird.txt"
    header = "job_id,num_gpu,submit_time,iterations,model_name,duration,interval"
    p.write_text(f"{header}\n0,1,0,5,vgg,10,1\n1,x,2,5,vgg,10,1\n")
    failed = runner.invoke(app, ["traces", "inspect", str(p), "--format", "tiresias"])
    assert failed.exit_code == 2
    assert f"{p}:3: field 'num_gpu'" in failed.output
    out = _json(str(p), "--format", "tiresias", "--skip-bad")
    assert (out["jobs"], out["skipped"]) == (1, 1)


def test_inspect_errors_are_one_line_not_tracebacks(tmp_path: Path, data_dir: Path) -> None:
    missing = runner.invoke(app, ["traces", "inspect", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "no such trace file" in missing.output
    unknown = tmp_path / "u.csv"
    unknown.write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["traces", "inspect", str(unknown)])
    assert result.exit_code == 2 and "--format" in result.output
    undated = runner.invoke(
        app, ["traces", "inspect", str(data_dir / "traces" / "tiresias-60job.csv"), "--start", "2024-01-01"]
    )
    assert undated.exit_code == 2 and "no dates" in undated.output


def test_formats_lists_every_reader() -> None:
    result = runner.invoke(app, ["traces", "formats"])
    assert result.exit_code == 0
    for name in ("canonical", "philly", "gavel", "tiresias", "alibaba", "slurm"):
        assert name in result.stdout
