"""End to end on the bundled 60-job Tiresias trace, and the bar/verdict logic on hand-made runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kaon.experiment import EvaluationPlan, Window, run_evaluation
from kaon.experiment.evaluate import EvaluationResult, Role, RunRow, ScenarioResult, default_baselines
from kaon.experiment.load import Sizing
from kaon.experiment.report import hindsight_table, markdown, read_results, summary_table, write_results
from kaon.experiment.tuning import BAR_POLICIES, TunedSpec

PLAN = EvaluationPlan(
    "tiresias-60job.csv",
    "900",
    (Window("0", "450"), Window("450", "900")),
    (Window("900", "1200"), Window("1200", "1500"), Window("1500", "1800")),
)
ONE_STEP = {  # two trials per policy (its defaults and one other value): the test is the plumbing
    "fifo-backfill:estimate=request": {"request_factor": ["4"]},
    "las": {"lease": ["90"]},
    "gittins": {"lease": ["90"]},
    "gavel": {"round": ["720"]},
    "tiresias": {"starve": ["2"]},
}


@pytest.mark.slow
def test_end_to_end_on_a_tiny_trace(tmp_path: Path) -> None:
    candidates = {"gavel-hetero": ("sjf",), "v100-homogeneous": ("srtf",)}
    result = run_evaluation(PLAN, tmp_path, candidates=candidates, grids=ONE_STEP)
    assert len(result.scenarios) == 12  # 3 windows x 2 loads x 2 clusters
    assert len(result.tuned) == 20 and all(t.trials == 2 for t in result.tuned)
    assert {t.policy for t in result.tuned} == set(BAR_POLICIES)
    for s in result.scenarios:
        specs = [r.spec for r in s.runs]
        assert set(default_baselines()) <= set(specs) and "srtf" in specs
        assert Role.TUNED in s.bar.roles
        assert s.bar.avg_jct_s == min(r.avg_jct_s for r in s.runs if Role.TUNED in r.roles)
        (run, verdict), = s.verdicts()
        assert run.spec == candidates[s.cluster][0]
        assert verdict.avg_ratio == pytest.approx(run.avg_jct_s / s.bar.avg_jct_s)
        assert s.heterogeneous is (s.cluster == "gavel-hetero")
        assert s.jobs > 0 and s.sizing.total_gpus > 0
    srtf = next(r for r in result.scenarios[0].runs if r.spec == "srtf")
    assert srtf.roles == (Role.BASELINE, Role.CANDIDATE)
    json_path, md_path = write_results(tmp_path, result)
    doc = json.loads(json_path.read_text())
    assert len(doc["scenarios"]) == 12 and doc["plan"]["until"] == "900"
    assert all(len(s["verdicts"]) == 1 for s in doc["scenarios"])
    text = md_path.read_text()
    assert "### Summary" in text and text.count("#### ") == 12
    assert (tmp_path / "tuned.json").exists()
    assert markdown(read_results(json_path)) + "\n" == text  # results.json holds every number shown


def test_unknown_candidate_cluster_fails_before_any_replay(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in the plan"):
        run_evaluation(PLAN, tmp_path, candidates={"elsewhere": ("sjf",)})
    with pytest.raises(ValueError, match="unknown policy"):
        run_evaluation(PLAN, tmp_path, candidates={"gavel-hetero": ("nosuch",)})
    assert not (tmp_path / "tuned.json").exists()


def _row(spec: str, roles: tuple[Role, ...], avg: float, p99: float, unfinished: int = 0) -> RunRow:
    return RunRow(spec, roles, avg, avg, avg, p99, 0.0, 0, unfinished, 0.0)


def _scenario(runs: tuple[RunRow, ...], load: float = 2.0, hetero: bool = False, achieved: float | None = None) -> ScenarioResult:
    sizing = Sizing(load, 1.0, 8, load if achieved is None else achieved)
    return ScenarioResult(Window("a", "b"), "c", hetero, sizing, 10, runs, 0.0)


def test_the_bar_is_the_best_tuned_run_not_the_oracle() -> None:
    s = _scenario((
        _row("srtf", (Role.BASELINE,), 50.0, 400.0),
        _row("srpt-fm:oracle=true", (Role.BASELINE,), 40.0, 400.0),
        _row("las", (Role.BASELINE,), 90.0, 400.0),
        _row("las:lease=90", (Role.TUNED,), 100.0, 1000.0),
        _row("gavel", (Role.BASELINE, Role.TUNED), 110.0, 900.0),
        _row("learned:path=m", (Role.CANDIDATE,), 94.0, 1150.0),
        _row("other", (Role.CANDIDATE,), 96.0, 900.0),
    ))
    assert s.bar.spec == "las:lease=90"
    verdicts = {run.spec: v for run, v in s.verdicts()}
    assert verdicts["learned:path=m"].passed  # overloaded: 0.94 <= 0.95, p99 1.15 <= 1.2
    assert not verdicts["other"].passed  # 0.96 > 0.95
    table = "\n".join(summary_table_of(s))
    assert "`learned:path=m` | 0.940 | 1.150 |" in table and "| pass |" in table and "| FAIL |" in table
    assert "| 0.500 | 0.400 | `learned:path=m`" in table  # both oracles / the bar's 100
    assert "oracle" not in table.split("\n")[2]  # header only on the first line


def test_a_scenario_without_candidates_shows_the_bar_alone() -> None:
    s = _scenario((_row("las", (Role.BASELINE, Role.TUNED), 100.0, 1000.0),), load=1.0, hetero=True)
    (line,) = summary_table_of(s)[2:3]
    assert "`las`" in line and line.endswith("| avg <= 0.85x, p99 <= 1.2x (heterogeneous) | - |")
    assert math.isclose(s.goal.avg_ratio_max, 0.85)


def test_a_window_too_sparse_to_overload_is_judged_by_the_load_it_offers() -> None:
    """Target 2, but even the smallest cluster is idle most of the night: not an overloaded scenario."""
    runs = (_row("las", (Role.BASELINE, Role.TUNED), 100.0, 1000.0), _row("x", (Role.CANDIDATE,), 100.0, 1000.0))
    assert math.isclose(_scenario(runs, load=2.0, achieved=0.23).goal.avg_ratio_max, 1.03)
    assert math.isclose(_scenario(runs, load=2.0, achieved=1.6).goal.avg_ratio_max, 0.95)
    assert math.isclose(_scenario(runs, load=1.0, achieved=1.6).goal.avg_ratio_max, 0.95)


def test_the_hindsight_table_judges_against_the_baseline_best_before_the_cut() -> None:
    """The bar picks the best tuned baseline on the test window; the table shows the candidate
    against the one that was best on the training windows."""
    s = _scenario((
        _row("las:lease=90", (Role.TUNED,), 100.0, 1000.0),
        _row("gavel", (Role.BASELINE, Role.TUNED), 120.0, 900.0),
        _row("learned:path=m", (Role.CANDIDATE,), 108.0, 1000.0),
    ))
    tuned = (TunedSpec("c", 2.0, "las", "las:lease=90", 50.0, 3, 1.0), TunedSpec("c", 2.0, "gavel", "gavel", 40.0, 3, 1.0))
    result = EvaluationResult(PLAN, tuned, (s,), 0.0, 0.0, 1)
    (row,) = hindsight_table(result)[2:3]
    assert row == "| c load 2 a..b | `gavel` | 1.200 | `learned:path=m` | 0.900 |"


def summary_table_of(s: ScenarioResult) -> list[str]:
    class _Result:
        scenarios = (s,)

    return summary_table(_Result())  # type: ignore[arg-type]
