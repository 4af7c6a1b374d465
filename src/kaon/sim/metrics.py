"""What a simulation run scored: per-job times (`JobTable`) and the policy's summary (`PolicyMetrics`).

Every number here is defined once, in docs/SUMMARY_JSON.md, and computed from a `SimResult` with
numpy over all jobs at once. The cluster-level quantities (utilisation, the number of jobs in the
system that finish-time fairness needs) come from the run's `Timeline`, read as a step function:
the value recorded at `time[i]` holds until `time[i + 1]`.

Job-time metrics are over finished jobs only; jobs that never finished (cut by a horizon, or that
no GPU type of the cluster could ever hold) are counted in `unfinished`, never silently dropped.
A metric over an empty set is NaN (written as `null` in summary.json).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kaon.sim.engine import SimResult
from kaon.sim.state import JobStatus


def step_integral(time: np.ndarray, values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Integral from `time[0]` to each of `points` of the step function `values` on `time`.

    Points before `time[0]` integrate to 0; after the last time the last value holds. Differences
    of two calls give the integral over any interval in O(log n) per point (np.searchsorted).
    """
    points = np.asarray(points, dtype=np.float64)
    if len(time) == 0:
        return np.zeros_like(points)
    values = np.asarray(values, dtype=np.float64)
    cumulative = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(time))))
    idx = np.searchsorted(time, points, side="right") - 1
    before = idx < 0
    idx = np.maximum(idx, 0)
    out = cumulative[idx] + values[idx] * (points - time[idx])
    out[before] = 0.0
    return out


@dataclass(frozen=True)
class JobTable:
    """One entry per job of the scenario, in trace order; what jobs-<policy>.csv holds.

    `finish`, `jct`, `queue` and `slowdown` are NaN for jobs that did not finish; `run` is the wall
    time the job held GPUs (restart overheads included) up to its finish or the end of the run.
    `status` is "finished", "unfinished" or "unschedulable" (no GPU type could ever hold it).
    """

    job_id: tuple[str, ...]
    queue_name: tuple[str, ...]
    status: tuple[str, ...]
    num_gpus: np.ndarray
    submit: np.ndarray
    first_start: np.ndarray
    finish: np.ndarray
    jct: np.ndarray
    queue: np.ndarray
    run: np.ndarray
    isolated: np.ndarray
    slowdown: np.ndarray
    preemptions: np.ndarray

    @property
    def finished(self) -> np.ndarray:
        return np.isfinite(self.finish)

    def __len__(self) -> int:
        return len(self.job_id)


def job_table(result: SimResult) -> JobTable:
    """Per-job times of a run. Queueing delay is JCT minus the time spent holding GPUs: every wait,
    before the first start and after each preemption."""
    jobs = result.jobs
    unschedulable = {id(j) for j in result.unschedulable}
    status = tuple(
        "finished"
        if j.status is JobStatus.FINISHED
        else "unschedulable"
        if id(j) in unschedulable
        else "unfinished"
        for j in jobs
    )
    nan = float("nan")
    submit = np.array([j.spec.submit_time for j in jobs], dtype=np.float64)
    finish = np.array([nan if j.finish_time is None else j.finish_time for j in jobs], dtype=np.float64)
    run = np.array([j.executed_at(result.end_time) for j in jobs], dtype=np.float64)
    isolated = np.array([j.isolated_runtime() if j.speeds.max() > 0 else nan for j in jobs], dtype=np.float64)
    jct = finish - submit
    return JobTable(
        job_id=tuple(j.job_id for j in jobs),
        queue_name=tuple(j.spec.queue for j in jobs),
        status=status,
        num_gpus=np.array([j.num_gpus for j in jobs], dtype=np.int64),
        submit=submit,
        first_start=np.array([nan if j.first_start is None else j.first_start for j in jobs], dtype=np.float64),
        finish=finish,
        jct=jct,
        queue=jct - run,
        run=run,
        isolated=isolated,
        slowdown=jct / isolated,
        preemptions=np.array([j.preemptions for j in jobs], dtype=np.int64),
    )


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    """One policy's score on one scenario: exactly the fields of a policy in summary.json.

    Times in seconds; see docs/SUMMARY_JSON.md for each definition.
    """

    avg_jct_s: float
    p50_jct_s: float
    p95_jct_s: float
    p99_jct_s: float
    avg_queue_s: float
    avg_slowdown: float
    p99_slowdown: float
    makespan_s: float
    gpu_util: float
    preemptions: int
    ftf_rho_mean: float
    ftf_rho_max: float
    jobs: int
    unfinished: int
    sim_wall_s: float
    events: int


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _max(values: np.ndarray) -> float:
    return float(values.max()) if len(values) else float("nan")


def _percentile(values: np.ndarray, q: float) -> float:
    """numpy's default (linear interpolation between order statistics)."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def finish_time_fairness(result: SimResult, table: JobTable) -> np.ndarray:
    """Themis' rho for each finished job: JCT / (isolated runtime x N_avg), N_avg the mean number
    of jobs in the system (pending + running) over the job's lifetime, so that its fair share is
    1/N_avg of the cluster. rho <= 1 means the job did at least as well as its fair share."""
    done = table.finished
    submit, finish = table.submit[done], table.finish[done]
    tl = result.timeline
    in_system = tl.pending + tl.running
    area = step_integral(tl.time, in_system, finish) - step_integral(tl.time, in_system, submit)
    n_avg = area / (finish - submit)
    return table.jct[done] / (table.isolated[done] * n_avg)


def compute_metrics(result: SimResult, table: JobTable | None = None) -> PolicyMetrics:
    """The summary of `result`; pass `table` when `job_table(result)` is already at hand."""
    table = table if table is not None else job_table(result)
    done = table.finished
    jct, queue, slowdown = table.jct[done], table.queue[done], table.slowdown[done]
    if done.any():
        entered = np.array([st != "unschedulable" for st in table.status], dtype=bool)
        first, last = float(table.submit[entered].min()), float(table.finish[done].max())
        makespan = last - first
        tl = result.timeline
        busy = np.diff(step_integral(tl.time, tl.busy_gpus, np.array([first, last])))[0]
        util = float(busy / (result.total_gpus * makespan)) if makespan > 0 else float("nan")
    else:
        makespan = util = float("nan")
    rho = finish_time_fairness(result, table)
    return PolicyMetrics(
        avg_jct_s=_mean(jct),
        p50_jct_s=_percentile(jct, 50),
        p95_jct_s=_percentile(jct, 95),
        p99_jct_s=_percentile(jct, 99),
        avg_queue_s=_mean(queue),
        avg_slowdown=_mean(slowdown),
        p99_slowdown=_percentile(slowdown, 99),
        makespan_s=makespan,
        gpu_util=util,
        preemptions=int(table.preemptions.sum()),
        ftf_rho_mean=_mean(rho),
        ftf_rho_max=_max(rho),
        jobs=len(table),
        unfinished=int((~done).sum()),
        sim_wall_s=result.wall_s,
        events=result.events,
    )
