"""`kaon simulate` and `kaon compare` end to end through Typer, on small traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kaon.cli.app import app
from kaon.cli.run import split_policies

# Strict FIFO on one 4-GPU node: a runs 0..100, b waits and runs 100..150, c 100..130, d 200..210.
PHILLY = """timestamp,duration,num_gpus,gpu_time,cluster
2017-10-01 00:00:00,100,4,400,vc1
2017-10-01 00:00:10,50,2,100,vc1
2017-10-01 00:00:20,30,2,60,vc2
2017-10-01 00:03:20,10,1,10,vc2
"""
CLUSTER = """name: one-node
reference_type: fast
spread_slowdown: 1.0
gpu_types:
  fast: {speed: 1.0}
nodes:
  - {type: fast, count: 1, gpus: 4}
"""
ENV = {"COLUMNS": "200"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    trace = tmp_path / "philly.csv"
    trace.write_text(PHILLY)
    cluster = tmp_path / "one-node.yaml"
    cluster.write_text(CLUSTER)
    return trace, cluster


def test_simulate_prints_metrics(runner: CliRunner, files: tuple[Path, Path]) -> None:
    trace, cluster = files
    args = ["simulate", "--trace", str(trace), "--cluster", str(cluster), "--policy", "fifo"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "4 jobs from" in result.output
    assert "avg_jct_s" in result.output and "90.000" in result.output  # (100 + 140 + 110 + 10) / 4


def test_simulate_writes_the_report(runner: CliRunner, files: tuple[Path, Path], tmp_path: Path) -> None:
    trace, cluster = files
    out = tmp_path / "out"
    args = ["simulate", "--trace", str(trace), "--cluster", str(cluster), "--policy", "fifo", "--out", str(out)]
    args += ["--start", "2017-10-01 00:00:10", "--end", "2017-10-01 01:00:00"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"]["window"] == {"start": "2017-10-01 00:00:10", "end": "2017-10-01 01:00:00"}
    assert doc["scenario"]["jobs"] == 3
    # Without a: b and c start at once (window time 0 and 10), d at 190.
    assert doc["policies"]["fifo"]["avg_jct_s"] == pytest.approx((50 + 30 + 10) / 3, abs=1e-3)
    assert (out / "jobs-fifo.csv").read_text().count("\n") == 4
    assert f"report: {out / 'report.html'}" in result.output.replace("\n", "")


def test_compare_writes_everything(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = ["compare", "--trace", "tiresias-60job.csv", "--cluster", "v100-homogeneous"]
    args += ["--policies", "fifo,fifo:placement=spread", "--out", str(out), "--load-scale", "4"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "JCT /" in result.output and "fifo:placement=spread" in result.output
    doc = json.loads((out / "summary.json").read_text())
    assert list(doc["policies"]) == ["fifo", "fifo:placement=spread"]
    assert doc["scenario"]["load_scale"] == 4.0 and doc["scenario"]["jobs"] == 60
    for name in ("jobs-fifo.csv", "jobs-fifo_placement_spread.csv", "report.html", "jct_cdf.png", "metrics.png"):
        assert (out / name).stat().st_size > 0


def test_compare_on_a_heterogeneous_cluster(runner: CliRunner, files: tuple[Path, Path], tmp_path: Path) -> None:
    trace, _ = files
    out = tmp_path / "het"
    args = ["compare", "--trace", str(trace), "--cluster", "gavel-hetero", "--policies", "fifo", "--out", str(out)]
    result = runner.invoke(app, [*args, "--seed", "3"], env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["scenario"]["seed"] == 3 and doc["policies"]["fifo"]["unfinished"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--policy": "nope"}, "unknown policy 'nope'"),
        ({"--policy": "fifo:bogus=1"}, "unknown parameter 'bogus'"),
        ({"--cluster": "no-such-cluster"}, "not a bundled cluster"),
        ({"--trace": "missing.csv"}, "missing.csv: no such trace file"),
        ({"--start": "yesterday"}, "cannot read 'yesterday'"),
        ({"--end": "0"}, "must be after its start"),
        ({"--format": "klingon"}, "unknown trace format 'klingon'"),
        ({"--load-scale": "0"}, "load scale must be > 0"),
    ],
)
def test_bad_input_exits_2(
    runner: CliRunner, files: tuple[Path, Path], change: dict[str, str], message: str
) -> None:
    trace, cluster = files
    opts = {"--trace": str(trace), "--cluster": str(cluster), "--policy": "fifo", **change}
    result = runner.invoke(app, ["simulate", *[x for kv in opts.items() for x in kv]], env=ENV)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_malformed_row_names_file_and_line(runner: CliRunner, files: tuple[Path, Path]) -> None:
    trace, cluster = files
    trace.write_text(PHILLY + "2017-10-01 00:05:00,-5,1,0,vc1\n")
    args = ["simulate", "--trace", str(trace), "--cluster", str(cluster), "--policy", "fifo"]
    result = runner.invoke(app, args, env=ENV)
    assert result.exit_code == 2
    assert f"{trace}:6: field 'duration'" in result.output.replace("\n", "")
    skipped = runner.invoke(app, [*args, "--skip-bad"], env=ENV)
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1 row(s)" in skipped.output


def test_compare_rejects_repeated_policies(runner: CliRunner, files: tuple[Path, Path], tmp_path: Path) -> None:
    trace, cluster = files
    args = ["compare", "--trace", str(trace), "--cluster", str(cluster), "--policies", "fifo,fifo"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x")], env=ENV)
    assert result.exit_code == 2
    assert "policy specs repeat" in result.output


def test_split_policies() -> None:
    assert split_policies("fifo, sjf,las") == ["fifo", "sjf", "las"]
    assert split_policies("tiresias:queues=3,thresholds=1;2,fifo,gavel:x=1") == [
        "tiresias:queues=3,thresholds=1;2",
        "fifo",
        "gavel:x=1",
    ]


def test_compare_replays_quotas(runner: CliRunner, files: tuple[Path, Path], tmp_path: Path) -> None:
    trace, cluster = files
    quotas = tmp_path / "quotas.yaml"
    # vc2 may hold one GPU and borrow none: its 2-GPU job c can never start, its 1-GPU job d can.
    quotas.write_text("queues:\n  vc1: {fast: {nominal: 3}}\n  vc2: {fast: {nominal: 1, borrowing_limit: 0}}\n")
    out = tmp_path / "q"
    args = ["compare", "--trace", str(trace), "--cluster", str(cluster), "--policies", "fifo-backfill"]
    result = runner.invoke(app, [*args, "--out", str(out), "--quotas", str(quotas)], env=ENV)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "summary.json").read_text())
    assert doc["policies"]["fifo-backfill"]["unfinished"] == 1
    rows = (out / "jobs-fifo-backfill.csv").read_text()
    assert "unfinished" in rows
    bad = runner.invoke(app, [*args, "--out", str(out), "--quotas", str(tmp_path / "none.yaml")], env=ENV)
    assert bad.exit_code == 2 and "none.yaml" in bad.output
