"""What an evaluation replays: the trace, the training cut, the windows, the loads and the clusters.

The plan is checked against the trace before anything runs (`EvaluationPlan.check`): training
windows must end by the cut, test windows must start at or after it, and no two windows overlap, so
no job is both trained on and tested on. Windows keep jobs *submitted* inside them; those jobs run
past the window's end until they finish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kaon.core.job import Trace
from kaon.traces.scenario import parse_instant


class PlanError(ValueError):
    """The plan contradicts itself or the trace (overlapping windows, a test window before the cut)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Jobs submitted in [start, end): ISO dates, or seconds since the trace's first job."""

    start: str
    end: str

    @property
    def label(self) -> str:
        return f"{self.start}..{self.end}"

    @classmethod
    def parse(cls, text: str) -> Window:
        """`2017-10-16..2017-10-18` -> Window("2017-10-16", "2017-10-18")."""
        start, sep, end = text.strip().partition("..")
        if not sep or not start or not end:
            raise PlanError(f"window {text!r} must be START..END")
        return cls(start.strip(), end.strip())

    def bounds(self, trace: Trace) -> tuple[float, float]:
        """(start, end) in seconds since the trace epoch."""
        try:
            lo, hi = parse_instant(self.start, trace), parse_instant(self.end, trace)
        except ValueError as e:
            raise PlanError(f"window {self.label}: {e}") from None
        if hi <= lo:
            raise PlanError(f"window {self.label}: end must be after start")
        return lo, hi


@dataclass(frozen=True, slots=True)
class EvaluationPlan:
    """Training on `train_windows` (all before `until`), testing on `test_windows` (all after it),
    each test window at each offered load in `loads` on each cluster in `clusters`."""

    trace: str
    until: str
    train_windows: tuple[Window, ...]
    test_windows: tuple[Window, ...]
    loads: tuple[float, ...] = (1.0, 2.0)
    clusters: tuple[str, ...] = ("v100-homogeneous", "gavel-hetero")
    seed: int = 0
    """Seed of the job types sampled for untyped jobs on heterogeneous clusters."""
    restart_overhead_s: float = 30.0

    def check(self, trace: Trace) -> None:
        """Raise `PlanError` unless the windows are disjoint, training before the cut and test after."""
        if not self.train_windows or not self.test_windows:
            raise PlanError("the plan needs at least one training and one test window")
        if not self.loads or any(not load > 0 for load in self.loads):
            raise PlanError(f"loads must be > 0, got {self.loads}")
        if not self.clusters:
            raise PlanError("the plan needs at least one cluster")
        try:
            cut = parse_instant(self.until, trace)
        except ValueError as e:
            raise PlanError(f"--until: {e}") from None
        for w in self.train_windows:
            if w.bounds(trace)[1] > cut:
                raise PlanError(f"training window {w.label} ends after the cut {self.until}")
        for w in self.test_windows:
            if w.bounds(trace)[0] < cut:
                raise PlanError(f"test window {w.label} starts before the cut {self.until}")
        spans = sorted((*w.bounds(trace), w.label) for w in (*self.train_windows, *self.test_windows))
        for (_, a_end, a), (b_start, _, b) in zip(spans, spans[1:]):
            if b_start < a_end:
                raise PlanError(f"windows {a} and {b} overlap")
        # Checked here, before tuning spends minutes, not when the empty window's replay comes up.
        submits = np.array([j.submit_time for j in trace.jobs])
        for lo, hi, label in spans:
            if not np.any((submits >= lo) & (submits < hi)):
                raise PlanError(f"window {label} holds no jobs of {self.trace}")


DEFAULT_PLAN = EvaluationPlan(
    trace="philly-2017-09-10.csv.gz",
    until="2017-10-15",
    train_windows=(
        Window("2017-10-13 00:00", "2017-10-13 06:00"),
        Window("2017-10-13 06:00", "2017-10-13 12:00"),
    ),
    test_windows=(
        Window("2017-10-17 00:00", "2017-10-17 06:00"),
        Window("2017-10-22 00:00", "2017-10-22 06:00"),
        Window("2017-10-24 12:00", "2017-10-24 18:00"),
    ),
)
"""The bundled Philly history (2017-09-04 .. 2017-10-31) cut at 2017-10-15: two 6-hour training
windows before the cut (655 and 774 jobs) and three 6-hour test windows spread over the ten days
after it (647, 585 and 669 jobs). Six hours, not days: overloaded, a preemptive baseline's replay
costs roughly the square of a window's job count (each event scans a queue that grows with it),
and tuning replays each training window 17 times per cluster and load, which on a shared 2-core
machine took hours for one-day windows. Longer windows are a `--train-windows`/`--test-windows` away."""


def windows_text(windows: tuple[Window, ...]) -> str:
    """The inverse of `parse_windows`: how a plan's windows are written as an option."""
    return ",".join(w.label for w in windows)


def plan_from_text(
    trace: str, until: str, train_windows: str, test_windows: str, loads: str, clusters: str, seed: int = 0
) -> EvaluationPlan:
    """A plan from its command-line spelling (`kaon evaluate`, bench/learning_eval.py)."""
    return EvaluationPlan(
        trace=trace,
        until=until,
        train_windows=parse_windows(train_windows),
        test_windows=parse_windows(test_windows),
        loads=parse_loads(loads),
        clusters=tuple(c.strip() for c in clusters.split(",") if c.strip()),
        seed=seed,
    )


def parse_windows(text: str) -> tuple[Window, ...]:
    """`A..B,C..D` -> two windows."""
    return tuple(Window.parse(part) for part in text.split(",") if part.strip())


def parse_loads(text: str) -> tuple[float, ...]:
    """`1,2` -> (1.0, 2.0)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise PlanError(f"loads {text!r} must be comma-separated numbers") from None


def candidate_specs(
    clusters: tuple[str, ...], learned: list[str], policies: list[str]
) -> dict[str, tuple[str, ...]]:
    """Candidate specs per cluster: each `CLUSTER=DIR` of `learned` becomes `learned:path=DIR` on
    that cluster (a model is trained for one cluster), and each of `policies` runs on every cluster."""
    out: dict[str, list[str]] = {c: list(policies) for c in clusters}
    for item in learned:
        cluster, eq, path = item.partition("=")
        if not eq or not path:
            raise PlanError(f"--learned {item!r} must be CLUSTER=DIR")
        if cluster not in out:
            raise PlanError(f"--learned {item!r}: cluster {cluster!r} is not one of {', '.join(clusters)}")
        out[cluster].append(f"learned:path={path}")
    return {c: tuple(specs) for c, specs in out.items() if specs}
