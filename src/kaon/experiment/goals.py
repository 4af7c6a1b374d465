"""The goals a candidate policy is judged by, relative to each scenario's bar.

The bar is the strongest non-clairvoyant baseline of the scenario: the lowest average JCT among
the bar policies with their tuned parameters. A candidate's average JCT must stay within 3% of the
bar everywhere, reach 0.95 x the bar when the cluster is overloaded and 0.85 x on a heterogeneous
cluster (the tighter ceiling applies when both do), and its p99 JCT must stay within 1.2 x the
bar's p99: a policy may not buy its average with its tail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AVG_CEILING = 1.03
OVERLOADED_CEILING = 0.95
HETEROGENEOUS_CEILING = 0.85
P99_CEILING = 1.2
OVERLOADED_FROM = 1.5
"""Offered loads from here up count as overloaded (the issue's overloaded range is 1.5 to 2.5)."""


@dataclass(frozen=True, slots=True)
class Goal:
    """Ceilings on the candidate / bar ratios, and the rule they come from."""

    avg_ratio_max: float
    p99_ratio_max: float
    rule: str

    @property
    def text(self) -> str:
        return f"avg <= {self.avg_ratio_max:g}x, p99 <= {self.p99_ratio_max:g}x ({self.rule})"


def goal_for(load: float, heterogeneous: bool) -> Goal:
    """The goal of a scenario offering `load` on a homogeneous or heterogeneous cluster."""
    ceilings = [(AVG_CEILING, "any scenario")]
    if load >= OVERLOADED_FROM:
        ceilings.append((OVERLOADED_CEILING, "overloaded"))
    if heterogeneous:
        ceilings.append((HETEROGENEOUS_CEILING, "heterogeneous"))
    avg, rule = min(ceilings)
    return Goal(avg, P99_CEILING, rule)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A candidate's ratios to the bar and whether they meet the goal.

    JCTs are over finished jobs, so a candidate that leaves more jobs unfinished than the bar could
    look better by starving its hardest jobs: that fails, as does a NaN ratio (no job finished).
    """

    avg_ratio: float
    p99_ratio: float
    extra_unfinished: int
    goal: Goal

    @property
    def passed(self) -> bool:
        if math.isnan(self.avg_ratio) or math.isnan(self.p99_ratio) or self.extra_unfinished > 0:
            return False
        return self.avg_ratio <= self.goal.avg_ratio_max and self.p99_ratio <= self.goal.p99_ratio_max


@dataclass(frozen=True, slots=True)
class Score:
    """The numbers a verdict needs from one run."""

    avg_jct_s: float
    p99_jct_s: float
    unfinished: int


def judge(candidate: Score, bar: Score, goal: Goal) -> Verdict:
    return Verdict(
        candidate.avg_jct_s / bar.avg_jct_s,
        candidate.p99_jct_s / bar.p99_jct_s,
        candidate.unfinished - bar.unfinished,
        goal,
    )
