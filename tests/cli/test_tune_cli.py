"""`kaon tune` end to end through Typer on the bundled 60-job Tiresias trace."""

from __future__ import annotations

from typer.testing import CliRunner

from kaon.cli.app import app

ENV = {"COLUMNS": "200"}


def test_tune_prints_trials_and_the_best_spec() -> None:
    args = ["tune", "--policy", "las", "--trace", "tiresias-60job.csv", "--cluster", "v100-homogeneous"]
    args += ["--cluster-scale", "0.02", "--load-scale", "4", "--grid", "lease=60;600"]
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    assert "las:lease=60" in result.output and "las:lease=600" in result.output
    assert "best: las" in result.output


def test_tune_rejects_an_unknown_policy_and_a_bad_grid() -> None:
    base = ["tune", "--trace", "tiresias-60job.csv", "--cluster", "v100-homogeneous"]
    unknown = CliRunner().invoke(app, [*base, "--policy", "nope"], env=ENV)
    assert unknown.exit_code == 2 and "unknown policy 'nope'" in unknown.output
    bad = CliRunner().invoke(app, [*base, "--policy", "las", "--grid", "lease"], env=ENV)
    assert bad.exit_code == 2 and "name=v1;v2" in bad.output
