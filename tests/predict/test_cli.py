"""`kaon predict evaluate` and `kaon predict fit` on four days of the bundled Philly trace."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from kaon.cli.predict import register
from kaon.predict.model import RuntimePredictor



def _window(path: Path) -> list[str]:
    return ["--trace", str(path), "--since", "2017-10-06", "--until", "2017-10-08", "--max-iter", "10"]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    register(app)
    return app


def test_evaluate_prints_json_scores(philly_oct_week: Path) -> None:
    result = CliRunner().invoke(_app(), ["predict", "evaluate", *_window(philly_oct_week), "--end", "2017-10-09", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [s["predictor"] for s in data["scores"]] == ["model", "queue median", "last similar", "global median"]
    assert data["cutoff"] == "2017-10-08T00:00:00+00:00" and data["test_jobs"] > 0
    assert data["scores"][3]["spearman"] is None  # a constant has no rank correlation


def test_evaluate_table_and_fit_then_load(tmp_path: Path, philly_oct_week: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "160"})
    table = runner.invoke(_app(), ["predict", "evaluate", *_window(philly_oct_week), "--end", "2017-10-09"])
    assert table.exit_code == 0 and "last similar" in table.output
    out = tmp_path / "model"
    fit = runner.invoke(_app(), ["predict", "fit", *_window(philly_oct_week), "--out", str(out)])
    assert fit.exit_code == 0, fit.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["epoch"].startswith("2017-10-05")
    assert RuntimePredictor.load(out).fitted


def test_bad_input_is_one_error_line(philly_oct_week: Path) -> None:
    bad_date = CliRunner().invoke(_app(), ["predict", "evaluate", "--trace", str(philly_oct_week), "--until", "soon"])
    assert bad_date.exit_code == 2 and "--until" in bad_date.output
    missing = CliRunner().invoke(_app(), ["predict", "fit", "--trace", "nope.csv", "--out", "x"])
    assert missing.exit_code == 2 and "error:" in missing.output
    early = CliRunner().invoke(_app(), ["predict", "fit", "--trace", str(philly_oct_week), "--until", "2017-09-01", "--out", "x"])
    assert early.exit_code == 2 and "nothing to learn" in early.output
