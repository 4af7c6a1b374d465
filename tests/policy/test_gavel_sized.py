"""`gavel-sized`: Gavel's rounds with share weights from remaining size. Size 0 is Gavel exactly;
a hand-solved two-job schedule; the weight levels; the learned parameters' spec round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from kaon.core.job import JobSpec, Trace
from kaon.policy.gavel_sized import GavelSized, GavelSizedParams
from kaon.policy.registry import make_policy
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState
from tests.policy.test_gavel import V100_K80, _typed_trace

NO_OVERHEAD = SimConfig(restart_overhead_s=0.0)


def _times(result) -> list[tuple[str, float | None, float | None]]:  # noqa: ANN001
    return [(j.job_id, j.first_start, j.finish_time) for j in result.jobs]


def test_size_zero_is_gavel_exactly() -> None:
    trace = _typed_trace()
    for extra in ("", ",round=720,stay=0.3"):
        gavel = simulate(trace, V100_K80, make_policy(f"gavel:{extra.lstrip(',')}"))
        sized = simulate(trace, V100_K80, make_policy(f"gavel-sized:size=0{extra}"))
        assert _times(sized) == _times(gavel)


def test_the_short_job_gets_the_lp_share_and_the_first_round(tiny_cluster) -> None:  # noqa: ANN001
    # One GPU; a 3,600 s job and a 360 s job arrive together, the long one first in the queue.
    # Gavel: equal shares, the long job takes the first round (arrival order breaks the tie), the
    # short one the second: JCTs 3,960 s and 720 s. Sized by true remaining time (oracle, size 1):
    # the short job's weight is 2^round(log2(3600/360)) = 8 against 1, so the LP gives it 8/9 of
    # the GPU and the first round: 360 s, and the long job still 3,960 s.
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast",))
    trace = Trace((JobSpec("long", 0.0, 3600.0, 1), JobSpec("short", 0.0, 360.0, 1)))
    expect = {"gavel": (3960.0, 720.0), "gavel-sized:oracle=true,size=1": (3960.0, 360.0)}
    for spec, (long_jct, short_jct) in expect.items():
        result = simulate(trace, cluster, make_policy(spec), NO_OVERHEAD)
        assert [j.finish_time for j in result.jobs] == [pytest.approx(long_jct), pytest.approx(short_jct)]


def test_levels_are_rounded_log2_of_one_gpu_hour_over_the_remaining_gpu_time() -> None:
    def job(gpus: int, duration: float) -> JobState:
        return JobState(JobSpec("j", 0.0, duration, gpus), 0, np.ones(1))

    policy = GavelSized(oracle=True, size=0.5, levels=6)
    assert policy.level(job(4, 900.0), 0.0) == 0  # 3,600 GPU-s
    assert policy.level(job(1, 225.0), 0.0) == 2  # 0.5 x log2(16)
    assert policy.level(job(8, 36_000.0), 0.0) == -3  # 0.5 x log2(1/80) = -3.16
    assert policy.level(job(1, 1.0), 0.0) == 3  # at least 60 s: 0.5 x log2(60) = 2.95
    assert GavelSized(oracle=True, size=2.0, levels=2).level(job(1, 1.0), 0.0) == 2  # clipped
    assert GavelSized(size=1.0).level(job(1, 1.0), 0.0) == 0  # no estimate yet


def test_learned_parameters_write_a_spec_that_builds_them() -> None:
    params = GavelSizedParams(size=0.25, round=720.0, stay=0.2)
    assert params.spec("m") == "gavel-sized:model=m,size=0.25,round=720,stay=0.2"
    policy = make_policy(params.spec())
    assert isinstance(policy, GavelSized) and (policy.size, policy.round, policy.stay) == (0.25, 720.0, 0.2)
    assert GavelSizedParams().policy(None).size == 0.0
