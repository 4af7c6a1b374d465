"""The goals and the pass/fail verdict on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from kaon.experiment.goals import Score, goal_for, judge


@pytest.mark.parametrize(
    ("load", "hetero", "ceiling", "rule"),
    [
        (1.0, False, 1.03, "any scenario"),
        (2.0, False, 0.95, "overloaded"),
        (1.0, True, 0.85, "heterogeneous"),
        (2.0, True, 0.85, "heterogeneous"),
    ],
)
def test_the_tightest_ceiling_applies(load: float, hetero: bool, ceiling: float, rule: str) -> None:
    goal = goal_for(load, hetero)
    assert (goal.avg_ratio_max, goal.p99_ratio_max, goal.rule) == (ceiling, 1.2, rule)


BAR = Score(avg_jct_s=100.0, p99_jct_s=1000.0, unfinished=2)


@pytest.mark.parametrize(
    ("candidate", "load", "hetero", "passed"),
    [
        (Score(103.0, 1200.0, 2), 1.0, False, True),  # exactly at both ceilings
        (Score(103.5, 900.0, 2), 1.0, False, False),  # 3.5% worse on average
        (Score(90.0, 1210.0, 2), 1.0, False, False),  # average fine, tail 1.21x
        (Score(96.0, 900.0, 2), 2.0, False, False),  # overloaded needs 0.95x
        (Score(95.0, 900.0, 2), 2.0, False, True),
        (Score(90.0, 900.0, 2), 1.0, True, False),  # heterogeneous needs 0.85x
        (Score(80.0, 900.0, 2), 2.0, True, True),
        (Score(50.0, 500.0, 3), 1.0, False, False),  # left one more job unfinished than the bar
        (Score(math.nan, math.nan, 2), 1.0, False, False),  # finished nothing
    ],
)
def test_verdict(candidate: Score, load: float, hetero: bool, passed: bool) -> None:
    verdict = judge(candidate, BAR, goal_for(load, hetero))
    assert verdict.passed is passed


def test_verdict_ratios() -> None:
    verdict = judge(Score(80.0, 1100.0, 2), BAR, goal_for(1.0, False))
    assert (verdict.avg_ratio, verdict.p99_ratio, verdict.extra_unfinished) == pytest.approx((0.8, 1.1, 0))
