"""`srpt-fm`: the shortest job on the fastest type, migrations at round boundaries, `stay`."""

from __future__ import annotations

import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.job import JobSpec, Trace
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate

FAST_SLOW = ClusterSpec(
    "fast-slow", (GpuType("fast"), GpuType("slow", 0.5)), (NodeSpec("fast-0", "fast", 1), NodeSpec("slow-0", "slow", 1)), "fast",
    spread_slowdown=1.0,
)  # fmt: skip
NO_OVERHEAD = SimConfig(restart_overhead_s=0.0)


def _finishes(spec: str, trace: Trace) -> dict[str, float | None]:
    result = simulate(trace, FAST_SLOW, make_policy(spec), NO_OVERHEAD)
    return {j.job_id: j.finish_time for j in result.jobs}


def test_shortest_job_takes_the_fast_gpu_and_the_long_one_moves_up_at_the_next_round() -> None:
    # Both arrive at 0: the 600 s job runs on the fast GPU and ends at 600; the 3,600 s job starts
    # on the slow one (half speed). At the 720 s round the fast GPU is free and the slow one runs
    # it at less than 0.9 x the speed, so it moves: 720 s x 0.5 = 360 s of work done, 3,240 s left
    # on the fast GPU, done at 3,960 s.
    trace = Trace((JobSpec("long", 0.0, 3600.0, 1), JobSpec("short", 0.0, 600.0, 1)))
    assert _finishes("srpt-fm:oracle=true", trace) == {"long": pytest.approx(3960.0), "short": pytest.approx(600.0)}
    # With stay 0.6 half speed is close enough to the best: the long job stays, 720 + 3,240 / 0.5.
    assert _finishes("srpt-fm:oracle=true,stay=0.6", trace)["long"] == pytest.approx(7200.0)


def test_a_shorter_arrival_takes_the_fast_gpu_at_the_next_round() -> None:
    # The 3,600 s job runs alone on the fast GPU; a 300 s job arrives at 100 and starts on the idle
    # slow GPU at once (between rounds). At the 360 s round its 260 s x 0.5 = 130 s done leave
    # 170 s, shorter than the long job's 3,240 s: they swap. It ends at 360 + 170 = 530; the long
    # job, after 530 - 360 = 170 s at half speed (85 s of work), has 3,240 - 85 = 3,155 s left and
    # moves back at the 720 s round (190 s at half speed = 95 s more): 720 + 3,060 = 3,780.
    trace = Trace((JobSpec("long", 0.0, 3600.0, 1), JobSpec("short", 100.0, 300.0, 1)))
    assert _finishes("srpt-fm:oracle=true", trace) == {"long": pytest.approx(3780.0), "short": pytest.approx(530.0)}
