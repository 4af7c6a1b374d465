"""`window`: the jobs of [start, end) rebased to start, and the recent past as `Trace.prior`."""

from __future__ import annotations

import pytest

from kaon.core.job import JobSpec, Trace
from kaon.traces.scenario import PRIOR_S, scale_load, window

DAY = 86400.0


def _trace() -> Trace:
    return Trace(
        (
            JobSpec("old", 0.0, 100.0, 1),  # finished 10 days before the window: too old
            JobSpec("a", 9 * DAY, 600.0, 1, queue="q"),  # finished at 9 d + 600 s
            JobSpec("b", 9.5 * DAY, 60.0, 2),  # finished half a day before the window
            JobSpec("running", 9.9 * DAY, DAY, 1),  # still running at the window's start
            JobSpec("c", 10 * DAY, 50.0, 1),  # in the window
            JobSpec("d", 10.5 * DAY, 50.0, 1),  # in the window
            JobSpec("after", 11 * DAY, 50.0, 1),  # after it
        )
    )


def test_a_window_keeps_the_jobs_finished_in_the_week_before_it_as_prior() -> None:
    w = window(_trace(), 10 * DAY, 11 * DAY)
    assert [j.job_id for j in w.jobs] == ["c", "d"] and w.jobs[0].submit_time == 0.0
    assert [(p.spec.job_id, p.finish) for p in w.prior] == [
        ("a", pytest.approx(-DAY + 600.0)),
        ("b", pytest.approx(-0.5 * DAY + 60.0)),
    ]
    # Nothing in the prior finishes after the window starts, or ran in it: no leak of its outcome.
    assert all(p.finish <= 0 for p in w.prior)
    assert not {p.spec.job_id for p in w.prior} & {j.job_id for j in w.jobs}
    assert PRIOR_S == 7 * DAY


def test_a_window_of_a_window_carries_the_prior_over_and_load_scaling_keeps_it() -> None:
    outer = window(_trace(), 9.25 * DAY, 12 * DAY)  # a's finish is in outer's prior
    inner = window(outer, 0.75 * DAY, 1.75 * DAY)  # the same instants as the window above
    assert [(p.spec.job_id, p.finish) for p in inner.prior] == [
        (p.spec.job_id, pytest.approx(p.finish)) for p in window(_trace(), 10 * DAY, 11 * DAY).prior
    ]
    assert scale_load(inner, 2.0).prior == inner.prior
    assert window(_trace(), None, 5 * DAY).prior == ()
