from __future__ import annotations

import json
from pathlib import Path

from kaon.compare import ComparisonResult, Scenario
from kaon.report.summary import SCENARIO_KEYS, write_summary

POLICY_KEYS = [
    "avg_jct_s", "p50_jct_s", "p95_jct_s", "p99_jct_s", "avg_queue_s", "avg_slowdown", "p99_slowdown",
    "makespan_s", "gpu_util", "preemptions", "ftf_rho_mean", "ftf_rho_max", "jobs", "unfinished",
    "sim_wall_s", "events",
]  # fmt: skip


def test_keys_follow_the_contract(tmp_path: Path, scenario: Scenario, comparison: ComparisonResult) -> None:
    doc = json.loads(write_summary(tmp_path / "summary.json", scenario, comparison).read_text())
    assert list(doc) == ["scenario", "policies"]
    assert list(doc["scenario"])[: len(SCENARIO_KEYS)] == list(SCENARIO_KEYS)
    assert list(doc["policies"]) == ["fifo", "fifo:placement=spread"]
    for entry in doc["policies"].values():
        assert list(entry) == POLICY_KEYS


def test_values(tmp_path: Path, scenario: Scenario, comparison: ComparisonResult) -> None:
    doc = json.loads(write_summary(tmp_path / "summary.json", scenario, comparison).read_text())
    s = doc["scenario"]
    assert (s["trace"], s["format"], s["cluster"], s["jobs"]) == ("hand-made.csv", "philly", "tiny", 5)
    assert s["window"] == {"start": 0.0, "end": 1000.0}
    fifo = doc["policies"]["fifo"]
    assert fifo["avg_jct_s"] == 90.0
    assert fifo["p95_jct_s"] == 135.5
    assert fifo["gpu_util"] == round(570 / 840, 4)
    assert fifo["avg_slowdown"] == round((1 + 2.8 + 110 / 30 + 1) / 4, 4)
    assert (fifo["jobs"], fifo["unfinished"], fifo["preemptions"]) == (5, 1, 0)


def test_undefined_metrics_are_null(tmp_path: Path, scenario: Scenario) -> None:
    from kaon.compare import run_comparison

    only_unschedulable = scenario.trace.with_jobs(scenario.trace.jobs[1:2])
    comparison = run_comparison(only_unschedulable, scenario.cluster, ["fifo"])
    text = write_summary(tmp_path / "summary.json", scenario, comparison).read_text()
    assert json.loads(text)["policies"]["fifo"]["avg_jct_s"] is None
    assert "NaN" not in text
