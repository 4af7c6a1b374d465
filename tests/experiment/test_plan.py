"""The plan check: training before the cut, test after it, no two windows overlapping."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from kaon.experiment.plan import (
    DEFAULT_PLAN,
    EvaluationPlan,
    PlanError,
    Window,
    candidate_specs,
    parse_loads,
    parse_windows,
)
from kaon.core.job import Trace
from kaon.traces.formats import read_trace
from kaon.traces.scenario import parse_instant


@pytest.fixture(scope="module")
def philly(tmp_path_factory: pytest.TempPathFactory) -> Trace:
    """A few jobs a day over the bundled Philly trace's dates (2017-09-04 .. 2017-10-31): the plan
    check reads only dates, and reading the real 52,849 rows takes seconds."""
    path = tmp_path_factory.mktemp("philly") / "philly-sample.csv"
    start = datetime(2017, 9, 4, 10, 30, 41)
    rows = [f"{start + timedelta(hours=2 * i):%Y-%m-%d %H:%M:%S},600,1,600,vc{i % 3}" for i in range(690)]
    path.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n" + "\n".join(rows) + "\n")
    return read_trace(path)


def test_default_plan_is_three_disjoint_test_windows_after_the_cut(philly: Trace) -> None:
    assert philly.epoch is not None and philly.jobs[-1].submit_time > 56 * 86400
    DEFAULT_PLAN.check(philly)
    until = parse_instant(DEFAULT_PLAN.until, philly)
    spans = [w.bounds(philly) for w in DEFAULT_PLAN.test_windows]
    assert len(spans) == 3
    assert all(lo >= until for lo, _ in spans)
    assert all(hi <= until for _, hi in (w.bounds(philly) for w in DEFAULT_PLAN.train_windows))
    ordered = sorted(spans)
    assert all(a[1] <= b[0] for a, b in zip(ordered, ordered[1:]))
    assert all(any(lo <= j.submit_time < hi for j in philly.jobs) for lo, hi in spans)


@pytest.mark.slow
def test_default_windows_hold_enough_real_jobs() -> None:
    philly = read_trace(DEFAULT_PLAN.trace)
    counts = [sum(lo <= j.submit_time < hi for j in philly.jobs) for lo, hi in
              (w.bounds(philly) for w in (*DEFAULT_PLAN.train_windows, *DEFAULT_PLAN.test_windows))]
    assert min(counts) >= 500


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train_windows": (Window("2017-10-13", "2017-10-16"),)}, "ends after the cut"),
        ({"test_windows": (Window("2017-10-14", "2017-10-18"),)}, "starts before the cut"),
        (
            {"test_windows": (Window("2017-10-16", "2017-10-19"), Window("2017-10-18", "2017-10-20"))},
            "overlap",
        ),
        ({"loads": (1.0, 0.0)}, "loads must be > 0"),
        ({"test_windows": ()}, "at least one"),
        ({"until": "yesterday"}, "--until"),
        ({"test_windows": (Window("2017-11-02", "2017-11-03"),)}, "window 2017-11-02..2017-11-03 holds no jobs"),
    ],
)
def test_bad_plans_are_refused(philly: Trace, change: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        replace(DEFAULT_PLAN, **change).check(philly)


def test_windows_in_seconds_on_an_undated_trace() -> None:
    trace = read_trace("tiresias-60job.csv")
    plan = EvaluationPlan("tiresias-60job.csv", "900", (Window("0", "900"),), (Window("900", "1800"),))
    plan.check(trace)
    with pytest.raises(PlanError, match="no dates"):
        replace(plan, test_windows=(Window("2017-10-16", "2017-10-18"),)).check(trace)


def test_option_parsing() -> None:
    assert parse_windows("a..b, c..d") == (Window("a", "b"), Window("c", "d"))
    assert parse_loads("1,2.5") == (1.0, 2.5)
    with pytest.raises(PlanError, match="START..END"):
        parse_windows("2017-10-16")
    with pytest.raises(PlanError, match="numbers"):
        parse_loads("1,high")


def test_candidate_specs_put_each_model_on_its_own_cluster() -> None:
    specs = candidate_specs(("homo", "het"), ["homo=models/h", "het=models/x"], ["sjf"])
    assert specs == {"homo": ("sjf", "learned:path=models/h"), "het": ("sjf", "learned:path=models/x")}
    assert candidate_specs(("homo", "het"), [], []) == {}
    with pytest.raises(PlanError, match="not one of"):
        candidate_specs(("homo",), ["other=models/h"], [])
    with pytest.raises(PlanError, match="CLUSTER=DIR"):
        candidate_specs(("homo",), ["models/h"], [])
