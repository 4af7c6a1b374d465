"""Anomaly flags over the job history, with robust statistics (median and MAD z-scores).

Normal behaviour is what most jobs do; median/MAD are not dragged by the outliers they must find
(a mean and standard deviation are). Four checks:
- overrun: a running job past its time limit (the executor should have stopped it), or a finished
  job whose run time is a robust outlier against its queue's run-time / time-limit ratios;
- burst: a user's submissions in the last window far above the per-user median;
- over-request: requested memory far above the measured peak RSS (memory held from others);
- failures: a user with repeated failures in a row.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kaon.store.records import JobPhase, JobRecord

Z_LIMIT = 5.0
"""Robust z-score above which a value is flagged (about 5 standard deviations for normal data)."""


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    subject: str
    """`job N` or `user U`."""
    score: float
    message: str


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 MAD); a zero MAD (all equal) is floored so equal values score 0."""
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    return (values - med) / max(mad, 1e-9 * max(1.0, abs(float(med))), 1e-12)


def detect(
    jobs: Sequence[JobRecord],
    now: float,
    burst_window_s: float = 300.0,
    min_burst: int = 20,
    failure_streak: int = 3,
    over_request_factor: float = 8.0,
) -> list[Anomaly]:
    out: list[Anomaly] = []
    for j in jobs:
        if j.state is JobPhase.RUNNING and j.start_time is not None and now - j.start_time > j.time_limit_s * 1.5:
            out.append(Anomaly("overrun", f"job {j.id}", (now - j.start_time) / j.time_limit_s, f"running {now - j.start_time:.0f}s against a {j.time_limit_s:g}s limit"))
    done = [j for j in jobs if j.state is JobPhase.COMPLETED and j.run_time_s > 0]
    if len(done) >= 10:
        ratios = np.array([j.run_time_s / j.time_limit_s for j in done])
        for j, z in zip(done, robust_z(np.log(ratios))):
            if z > Z_LIMIT:
                out.append(Anomaly("overrun", f"job {j.id}", float(z), f"ran {j.run_time_s:.0f}s, far above what similar jobs use of their limit (z={z:.1f})"))
    recent = Counter(j.user or "-" for j in jobs if now - j.submit_time <= burst_window_s)
    if recent:
        users = sorted(recent)
        counts = np.array([recent[u] for u in users], dtype=float)
        z = robust_z(counts) if len(users) >= 3 else np.full(len(users), np.inf)
        for u, n, s in zip(users, counts, z):
            if n >= min_burst and s > Z_LIMIT:
                out.append(Anomaly("burst", f"user {u}", float(n), f"{int(n)} submissions in the last {burst_window_s:g}s"))
    for j in jobs:
        if j.max_rss_mb and j.memory_mb and j.memory_mb > over_request_factor * j.max_rss_mb:
            out.append(Anomaly("over-request", f"job {j.id}", j.memory_mb / j.max_rss_mb, f"asked {j.memory_mb} MB, used at most {j.max_rss_mb:.0f} MB"))
    streaks: dict[str, int] = defaultdict(int)
    for j in sorted((j for j in jobs if j.state.terminal), key=lambda j: j.end_time or j.submit_time):
        u = j.user or "-"
        streaks[u] = streaks[u] + 1 if j.state in (JobPhase.FAILED, JobPhase.TIMEOUT) else 0
    for u, n in sorted(streaks.items()):
        if n >= failure_streak:
            out.append(Anomaly("failures", f"user {u}", float(n), f"the last {n} jobs failed"))
    return out
