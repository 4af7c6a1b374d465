"""Tuning sees only the training history, and its cache is reused only for the same plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kaon.experiment.plan import EvaluationPlan, Window
from kaon.experiment.scenarios import ScenarioBuilder
from kaon.experiment.tuning import TunedSpec, tune_bar

CLUSTER = """name: eight
reference_type: v100
gpu_types: {v100: {speed: 1.0}}
nodes: [{type: v100, count: 8, gpus: 1}]
"""
HEADER = "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n"
GRID = {"las": {"lease": ["120", "1200"]}}


def _write(tmp_path: Path, name: str, jobs: list[tuple[float, float, int]]) -> str:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{i},{g},{t:g},1,m,{d:g},0\n" for i, (t, d, g) in enumerate(jobs)))
    return str(path)


# (submit, duration, GPUs): competing jobs before the cut at 1000 s and others after it.
BEFORE = [(0, 900, 1), (10, 60, 1), (20, 60, 2), (30, 400, 1), (500, 700, 1), (510, 50, 1), (520, 50, 2), (900, 90, 1)]
AFTER = [(1000, 800, 1), (1010, 40, 1), (1200, 300, 2), (1500, 60, 1)]
AFTER_CHANGED = [(1000, 8000, 2), (1005, 30, 1), (1010, 4000, 1), (1600, 10, 1), (1700, 900, 1)]


def _plan(trace: str, cluster: str, until: float, train: tuple[Window, ...]) -> EvaluationPlan:
    return EvaluationPlan(trace, f"{until:g}", train, (Window("2000", "3000"),), loads=(1.5,), clusters=(cluster,))


def _tune(plan: EvaluationPlan, cache: Path) -> tuple[TunedSpec, ...]:
    return tune_bar(plan, ScenarioBuilder(plan), cache, policies=("las",), grids=GRID)


def _key(tuned: tuple[TunedSpec, ...]) -> list[tuple[str, float, int]]:
    return [(t.spec, t.objective_s, t.trials) for t in tuned]


def test_jobs_after_the_cut_never_move_a_tuned_value(tmp_path: Path) -> None:
    cluster = tmp_path / "eight.yaml"
    cluster.write_text(CLUSTER)
    a = _write(tmp_path, "a.csv", BEFORE + AFTER)
    b = _write(tmp_path, "b.csv", BEFORE + AFTER_CHANGED)
    train = (Window("0", "500"), Window("500", "1000"))
    tuned_a = _tune(_plan(a, str(cluster), 1000, train), tmp_path / "a.json")
    tuned_b = _tune(_plan(b, str(cluster), 1000, train), tmp_path / "b.json")
    assert _key(tuned_a) == _key(tuned_b)
    # The control: had training reached past 1000 s, those jobs would have changed the result.
    late = (Window("0", "1000"), Window("1000", "2000"))
    assert _key(_tune(_plan(a, str(cluster), 2000, late), tmp_path / "c.json")) != _key(
        _tune(_plan(b, str(cluster), 2000, late), tmp_path / "d.json")
    )


def test_the_cache_is_reused_for_the_same_plan_only(tmp_path: Path) -> None:
    cluster = tmp_path / "eight.yaml"
    cluster.write_text(CLUSTER)
    plan = _plan(_write(tmp_path, "a.csv", BEFORE), str(cluster), 1000, (Window("0", "1000"),))
    cache = tmp_path / "tuned.json"
    first = _tune(plan, cache)
    doc = json.loads(cache.read_text())
    doc["tuned"][0]["spec"] = "las:lease=12345"  # a value tuning never tries: seen only if reused
    cache.write_text(json.dumps(doc))
    assert [t.spec for t in _tune(plan, cache)] == ["las:lease=12345"]
    assert _key(_tune(replace(plan, restart_overhead_s=0.0), cache)) != _key(first)  # another plan: retuned
    lines: list[str] = []
    again = tune_bar(plan, ScenarioBuilder(plan), cache, retune=True, policies=("las",), grids=GRID, log=lines.append)
    assert _key(again) == _key(first) and any("tuning 1" in line for line in lines)


def test_a_corrupt_cache_is_an_error_naming_it(tmp_path: Path) -> None:
    cluster = tmp_path / "eight.yaml"
    cluster.write_text(CLUSTER)
    plan = _plan(_write(tmp_path, "a.csv", BEFORE), str(cluster), 1000, (Window("0", "1000"),))
    cache = tmp_path / "tuned.json"
    _tune(plan, cache)
    doc = json.loads(cache.read_text())
    doc["tuned"] = [{"cluster": "x"}]
    cache.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="tuned.json"):
        _tune(plan, cache)


def test_fixed_parameters_stay_in_every_tuned_spec(tmp_path: Path) -> None:
    """The bar's backfill sees requested times only: tuning must never fall back to its oracle default."""
    cluster = tmp_path / "eight.yaml"
    cluster.write_text(CLUSTER)
    plan = _plan(_write(tmp_path, "a.csv", BEFORE), str(cluster), 1000, (Window("0", "1000"),))
    policy = "fifo-backfill:estimate=request"
    (tuned,) = tune_bar(plan, ScenarioBuilder(plan), tmp_path / "t.json", policies=(policy,),
                        grids={policy: {"request_factor": ["1", "4"]}})
    assert tuned.policy == policy and tuned.trials == 3
    assert tuned.spec.startswith("fifo-backfill:estimate=request")


def test_changing_one_policys_grid_retunes_that_policy_only(tmp_path: Path) -> None:
    cluster = tmp_path / "eight.yaml"
    cluster.write_text(CLUSTER)
    plan = _plan(_write(tmp_path, "a.csv", BEFORE), str(cluster), 1000, (Window("0", "1000"),))
    cache = tmp_path / "tuned.json"
    grids = {**GRID, "gavel": {"round": ["720"]}}
    tune_bar(plan, ScenarioBuilder(plan), cache, policies=("las", "gavel"), grids=grids)
    lines: list[str] = []
    again = tune_bar(plan, ScenarioBuilder(plan), cache, policies=("las", "gavel"),
                     grids={**grids, "gavel": {"round": ["180"]}}, log=lines.append)
    assert any("tuning 1 " in line for line in lines) and any("tuned gavel" in line for line in lines)
    assert [t.grid for t in again] == [GRID["las"], {"round": ["180"]}]
