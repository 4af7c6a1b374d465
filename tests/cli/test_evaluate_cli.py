"""`kaon evaluate` end to end on the bundled 60-job trace: one window, one load, one cluster."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kaon.cli.app import app

ARGS = [
    "--trace", "tiresias-60job.csv", "--until", "900", "--train-windows", "600..900",
    "--test-windows", "900..1200", "--loads", "2", "--clusters", "gavel-hetero", "--workers", "1",
]


def test_evaluate_tunes_once_and_judges_candidates(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["evaluate", "--out", str(tmp_path), *ARGS])
    assert first.exit_code == 0, first.output
    assert "tuning 5 (cluster, load, policy)" in first.output
    doc = json.loads((tmp_path / "results.json").read_text())
    (scenario,) = doc["scenarios"]
    assert scenario["verdicts"] == [] and scenario["bar"] in {t["spec"] for t in doc["tuned"]}
    tuned = (tmp_path / "tuned.json").read_text()

    second = runner.invoke(app, ["evaluate", "--out", str(tmp_path), "--policy", "sjf", *ARGS])
    assert second.exit_code == 0, second.output
    assert "tuning" not in second.output.replace("Tuning", "")  # reused tuned.json
    assert (tmp_path / "tuned.json").read_text() == tuned
    (scenario,) = json.loads((tmp_path / "results.json").read_text())["scenarios"]
    assert [v["spec"] for v in scenario["verdicts"]] == ["sjf"]
    assert "`sjf`" in (tmp_path / "learning.md").read_text()


def test_evaluate_bad_input_is_one_error_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--out", str(tmp_path), *ARGS, "--learned", "nowhere=models/x"])
    assert result.exit_code == 2 and "error: --learned 'nowhere=models/x'" in result.output
    result = runner.invoke(app, ["evaluate", "--out", str(tmp_path), *ARGS[:4], "--train-windows", "0..1000"])
    assert result.exit_code == 2 and "ends after the cut" in result.output
