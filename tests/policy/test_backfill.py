"""`fifo-backfill`: EASY backfilling against the queue head's reservation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaon.core.cluster import ClusterSpec, GpuType, NodeSpec
from kaon.core.job import JobSpec, Trace
from kaon.policy.backfill import FifoBackfill
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import make_policy
from kaon.policy.runtime_estimates import RequestEstimator
from kaon.sim.engine import SimConfig, simulate
from kaon.sim.state import JobState
from kaon.traces.formats import read_trace
from kaon.traces.scenario import window
from kaon.traces.synthetic import synthetic_trace

# `a` holds 2 of 4 GPUs until 1000; the head `h` needs all 4, so it is reserved for 1000.
JOBS = [
    JobSpec("a", 0, 1000, 2),
    JobSpec("h", 10, 500, 4),
    JobSpec("short", 20, 900, 2),
    JobSpec("long", 30, 2000, 2),
]


def _run(cluster, jobs, policy):  # noqa: ANN001, ANN202
    result = simulate(Trace(tuple(jobs)), cluster, policy, SimConfig(restart_overhead_s=0))
    return {j.job_id: (j.first_start, j.finish_time, j.preemptions) for j in result.jobs}


def test_short_job_passes_without_delaying_the_head_long_one_does_not(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=4), JOBS, make_policy("fifo-backfill"))
    assert out == {
        "a": (0, 1000, 0),
        "short": (20, 920, 0),  # ends before the reservation
        "h": (1000, 1500, 0),
        "long": (1500, 3500, 0),  # would have run past 1000 on GPUs the head needs
    }
    fifo = _run(tiny_cluster(nodes=1, gpus=4), JOBS, make_policy("fifo"))
    assert fifo["short"] == (1500, 2400, 0)


def test_extra_gpus_may_be_used_by_a_long_job(tiny_cluster) -> None:
    """On 6 GPUs the head needs 4 of the 6 free at 1000, so 2 are extra. `short` takes the 2 free
    now (it ends before 1000); when it ends, `long` may start on them although it runs past 1000."""
    out = _run(tiny_cluster(nodes=1, gpus=6), [JobSpec("a", 0, 1000, 4), *JOBS[1:]], make_policy("fifo-backfill"))
    assert out == {"a": (0, 1000, 0), "short": (20, 920, 0), "long": (920, 2920, 0), "h": (1000, 1500, 0)}


class Pessimist:
    """An estimator that believes `short` takes 5000 s and knows every other duration."""

    def estimate(self, job: JobState) -> float:
        return 5000.0 if job.job_id == "short" else job.spec.duration


def test_estimator_plugs_in(tiny_cluster) -> None:
    out = _run(tiny_cluster(nodes=1, gpus=4), JOBS, FifoBackfill(Pessimist()))
    assert out["short"] == (1500, 2400, 0)  # no longer believed to end before the reservation
    assert out["h"] == (1000, 1500, 0)


def test_request_estimates_are_the_specs_estimator() -> None:
    policy = make_policy("fifo-backfill:estimate=request,request_factor=3")
    assert isinstance(policy, FifoBackfill) and isinstance(policy.estimator, RequestEstimator)
    assert policy.estimator.factor == 3.0


def test_bad_parameters() -> None:
    with pytest.raises(PolicyParamError, match="estimate"):
        make_policy("fifo-backfill:estimate=guess")
    with pytest.raises(PolicyParamError, match="request_factor"):
        make_policy("fifo-backfill:estimate=request,request_factor=0.5")


def test_a_long_job_waits_for_a_faster_type_and_a_short_one_backfills_the_slow_one(tiny_cluster) -> None:
    """One fast and one slow (half speed) GPU. `b` (1000 s) could take the slow GPU at 10 and end at
    2010, or wait for the fast one at 100 and end at 1100: it waits, reserved there, and `c` (10 s)
    backfills the slow GPU. Greedy placement (strict FIFO, and fifo-backfill before it compared
    finish times) sends `b` to the slow GPU: on Philly's heavy tail that made fifo-backfill's mean
    JCT worse than fifo's."""
    cluster = tiny_cluster(nodes=1, gpus=1, types=("fast", "slow"))
    jobs = [JobSpec("a", 0, 100, 1), JobSpec("b", 10, 1000, 1), JobSpec("c", 20, 10, 1)]
    out = _run(cluster, jobs, make_policy("fifo-backfill"))
    assert out == {"a": (0, 100, 0), "b": (100, 1100, 0), "c": (20, 40, 0)}
    fifo = _run(cluster, jobs, make_policy("fifo"))
    assert fifo == {"a": (0, 100, 0), "b": (10, 2010, 0), "c": (100, 110, 0)}


# Schedules fixed before the backfill scan was bounded (commit 41b68e1's fifo-backfill): each
# scenario's (first start, finish) per job, in trace order. The bounded scan must skip only jobs the
# full scan would have rejected, so every schedule stays identical. Regenerate (only for an
# intended change of schedule) with `python -m tests.policy.test_backfill`.
EXPECTED = Path(__file__).with_name("backfill_schedules.json")
HETERO = ClusterSpec(
    "hetero",
    (GpuType("v100"), GpuType("p100"), GpuType("k80")),
    tuple(NodeSpec(f"{t}-{i}", t, g) for t, g, n in [("v100", 4, 3), ("p100", 4, 2), ("k80", 8, 2)] for i in range(n)),
    "v100",
    spread_slowdown=0.8,
)
HOMOGENEOUS = ClusterSpec(
    "homogeneous", (GpuType("v100"),), tuple(NodeSpec(f"n{i}", "v100", 8) for i in range(4)), "v100"
)
JOB_TYPES = ("ResNet-50 (batch size 64)", "Transformer (batch size 128)", "A3C", "LM (batch size 20)")
PHILLY_DAY = 28 * 86_400.0
"""A Philly window with 1- to 32-GPU jobs and multi-day ones among the short."""


def _scenarios() -> dict[str, tuple[Trace, ClusterSpec, str]]:
    """Hundred-job traces that keep a queue behind a blocked head most of the time, on a homogeneous
    cluster (the reservation alone decides a backfill) and a heterogeneous one (finish-first types
    and work bounds too), with exact and f-model estimates, and a day of Philly."""
    syn = {
        seed: synthetic_trace(
            300, seed=seed, mean_interarrival_s=30, median_duration_s=900, max_gpus=16, job_types=JOB_TYPES
        )
        for seed in (3, 4)
    }
    philly = window(read_trace("philly-2017-09-10.csv.gz"), PHILLY_DAY, PHILLY_DAY + 86_400)
    return {
        "homogeneous-oracle": (syn[3], HOMOGENEOUS, "fifo-backfill"),
        "homogeneous-request": (syn[3], HOMOGENEOUS, "fifo-backfill:estimate=request,request_factor=4"),
        "hetero-oracle": (syn[4], HETERO, "fifo-backfill"),
        "hetero-request": (syn[4], HETERO, "fifo-backfill:estimate=request,request_factor=3"),
        "hetero-spread": (syn[3], HETERO, "fifo-backfill:placement=spread,estimate=request"),
        "philly-homogeneous": (philly, HOMOGENEOUS, "fifo-backfill"),
        "philly-hetero": (philly, HETERO, "fifo-backfill:estimate=request"),
    }


def _schedules() -> dict[str, list[list[float | None]]]:
    out = {}
    for name, (trace, cluster, spec) in _scenarios().items():
        result = simulate(trace, cluster, make_policy(spec))
        out[name] = [[j.first_start, j.finish_time] for j in result.jobs]
    return out


def test_bounded_scan_keeps_every_schedule() -> None:
    expected = json.loads(EXPECTED.read_text())
    got = _schedules()
    assert got.keys() == expected.keys()
    for name, schedule in got.items():
        assert schedule == expected[name], name


def test_backfill_scan_skips_jobs_that_would_run_past_the_reservation(tiny_cluster) -> None:
    """Behind `h` (4 GPUs, reserved at 1000), only `short` can end before the shadow; the 2-GPU
    jobs too long for it are never offered to the placement test, and the schedule is EASY's."""
    jobs = [*JOBS[:3], *(JobSpec(f"long-{i}", 30 + i, 2000 + i, 2) for i in range(50))]
    policy = FifoBackfill()
    offered: list[str] = []
    backfill = policy._backfill

    def spy(job, *args):  # noqa: ANN001, ANN202
        offered.append(job.job_id)
        return backfill(job, *args)

    policy._backfill = spy  # type: ignore[method-assign]
    out = _run(tiny_cluster(nodes=1, gpus=4), jobs, policy)
    assert out["short"] == (20, 920, 0) and out["h"] == (1000, 1500, 0)
    assert not any(name.startswith("long") for name in offered)
    assert [out[f"long-{i}"][0] for i in range(3)] == [1500, 1500, 3500]


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(_schedules(), separators=(",", ":")) + "\n")


def test_predicted_estimates_from_a_saved_model_or_learned_during_the_run(tmp_path, tiny_cluster) -> None:  # noqa: ANN001
    from kaon.predict.model import PredictorConfig, RuntimePredictor

    trace = synthetic_trace(300, seed=8, mean_interarrival_s=20, median_duration_s=600, max_gpus=4)
    cluster = tiny_cluster(nodes=2, gpus=4)
    online = make_policy("fifo-backfill:estimate=predicted")
    assert all(j.finish_time is not None for j in simulate(trace, cluster, online, SimConfig(restart_overhead_s=0)).jobs)
    assert online.online.refits == 1  # type: ignore[attr-defined]  # after 100 finishes
    RuntimePredictor(PredictorConfig(max_iter=10)).fit(trace.with_jobs(trace.jobs[:150])).save(tmp_path / "m")
    saved = make_policy(f"fifo-backfill:estimate=predicted,model={tmp_path / 'm'}")
    calls: list[int] = []
    estimate_many = saved.online.estimate_many  # type: ignore[attr-defined]
    saved.online.estimate_many = lambda jobs: calls.append(len(jobs)) or estimate_many(jobs)  # type: ignore[attr-defined]
    assert all(j.finish_time is not None for j in simulate(trace, cluster, saved, SimConfig(restart_overhead_s=0)).jobs)
    assert calls == [1] * len(trace) and saved.online.refits == 0  # type: ignore[attr-defined]  # each job once, on arrival
    with pytest.raises(PolicyParamError, match="model=DIR is the predictor of estimate=predicted"):
        make_policy(f"fifo-backfill:model={tmp_path / 'm'}")
