"""`kaon train` and `kaon explain --model` through the kaon app."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import pytest
from typer.testing import CliRunner

from kaon.cli.app import app as kaon_app


def _app() -> typer.Typer:
    return kaon_app


@pytest.mark.slow  # trains, evaluates and replays: 40-140 s on 2 cores
def test_train_then_explain(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "m"
    runner = CliRunner()
    trace = str(data_dir / "traces" / "tiresias-60job.csv")
    cluster = str(data_dir / "clusters" / "v100-homogeneous.yaml")
    r = runner.invoke(_app(), ["train", "--trace", trace, "--cluster", cluster, "--until", "20000",
                               "--algo", "ppo", "--timesteps", "32", "--episode-jobs", "20", "--window", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "manifest.json").is_file() and "agent_avg_jct_s" in r.output
    r = runner.invoke(_app(), ["explain", "--model", str(out), "--trace", trace, "--cluster", cluster, "--at", "0"])
    assert r.exit_code == 0, r.output
    assert "log_runtime" in r.output and "attribution" in r.output


def test_bad_algo_is_a_clear_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["train", "--trace", "x", "--algo", "sarsa", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--algo" in r.output


def test_es_train_then_explain_the_rank(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "es"
    runner = CliRunner()
    trace = str(data_dir / "traces" / "tiresias-60job.csv")
    cluster = str(data_dir / "clusters" / "v100-homogeneous.yaml")
    r = runner.invoke(_app(), ["train", "--trace", trace, "--cluster", cluster, "--until", "20000", "--algo", "es",
                               "--population", "2", "--generations", "1", "--episodes", "1", "--episode-days", "0.5",
                               "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "objective_vs_start" in r.output
    r = runner.invoke(_app(), ["explain", "--model", str(out), "--trace", trace, "--cluster", cluster, "--at", "0"])
    assert r.exit_code == 0, r.output
    assert "weight x feature of the rank" in r.output
    assert "log_remaining_s" in r.output and "attribution" in r.output


def test_es_of_the_gavel_sized_family_trains_and_explains_the_share(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "es"
    runner = CliRunner()
    trace = str(data_dir / "traces" / "tiresias-60job.csv")
    cluster = "gavel-hetero"
    r = runner.invoke(_app(), ["train", "--trace", trace, "--cluster", cluster, "--until", "20000", "--algo", "es",
                               "--family", "gavel-sized", "--population", "2", "--generations", "1", "--episodes", "1",
                               "--episode-days", "0.5", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert '"gavel_sized"' in (out / "manifest.json").read_text()
    r = runner.invoke(_app(), ["explain", "--model", str(out), "--trace", trace, "--cluster", cluster, "--at", "0"])
    assert r.exit_code == 0, r.output
    assert "gavel-sized" in r.output and "weight_level" in r.output and "share_type0" in r.output
    # the feedback loop: newer history, the cluster taken from the model
    r = runner.invoke(_app(), ["train", "--resume", str(out), "--trace", trace, "--until", "30000", "--algo", "es",
                               "--population", "2", "--generations", "1", "--episodes", "1", "--episode-days", "0.5"])
    assert r.exit_code == 0, r.output
    runs = json.loads((out / "manifest.json").read_text())["runs"]
    assert [(run["cluster"], run["until"]) for run in runs] == [("gavel-hetero", "20000"), ("gavel-hetero", "30000")]


def test_unknown_family_is_a_clear_error(tmp_path: Path, data_dir: Path) -> None:
    trace = str(data_dir / "traces" / "tiresias-60job.csv")
    r = CliRunner().invoke(_app(), ["train", "--trace", trace, "--cluster", "gavel-hetero", "--until", "20000",
                                    "--algo", "es", "--family", "nope", "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "unknown family 'nope'" in r.output
