"""Anomaly flags over the job history, with robust statistics (median and MAD z-scores).

Normal behaviour is what most jobs do; median/MAD are not dragged by the outliers they must find
(a mean and standard deviation are). Four checks:
- overrun: a running job past its time limit (the executor should have stopped it), or a finished
  job whose run time is a robust outlier against its queue's run-time / time-limit ratios;
- burst: a user's submissions in the last window far above the per-user median;
- over-request: requested memory far above the measured peak RSS (memory held from others);
- failures: a user with repeated failures in a row.

`detect` scans a history on request (GET /anomalies). `SubmissionWatch` keeps the checks that can
*hold* a job (`kaon serve --hold-anomalous`) incrementally per user, because the scheduling loop
consults it at every admission and every requeue, where re-reading the history would cost a query
per submission. Its rules are `detect`'s, plus one only a submission has: a request far larger
than anything the user asked for before.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
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


def robust_z(values: np.ndarray, min_scale: float = 0.0) -> np.ndarray:
    """(x - median) / (1.4826 MAD); a zero MAD (all equal) is floored so equal values score 0.
    `min_scale` floors the scale for counts: when most users submitted exactly as many jobs, one
    more submission must not make a user an outlier."""
    med = np.median(values)
    mad = 1.4826 * np.median(np.abs(values - med))
    return (values - med) / max(mad, min_scale, 1e-9 * max(1.0, abs(float(med))), 1e-12)


@dataclass(frozen=True, slots=True)
class HoldRules:
    """Thresholds of `SubmissionWatch`; `detect` uses the burst and failure ones too."""

    burst_window_s: float = 300.0
    min_burst: int = 20
    failure_streak: int = 3
    request_factor: float = 8.0
    """A job asking more than this times the most GPUs of the user's recent jobs is held..."""
    min_history: int = 5
    """...once the user has at least this many earlier jobs to compare with."""
    history: int = 100
    """Earlier jobs per user remembered for that comparison."""
    overrun_factor: float = 1.5
    """A job back in the queue after running this many times its time limit is not restarted."""


OVER_REQUEST_FACTOR = 8.0
"""A job that asked for more than this times the memory it used at most is flagged."""


def detect(jobs: Sequence[JobRecord], now: float, rules: HoldRules = HoldRules()) -> list[Anomaly]:
    """Anomalies among `jobs` at `now`, by the burst and failure thresholds that holds use too."""
    burst_window_s, min_burst, failure_streak = rules.burst_window_s, rules.min_burst, rules.failure_streak
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
        z = robust_z(counts, min_scale=1.0) if len(users) >= 3 else np.full(len(users), np.inf)
        for u, n, s in zip(users, counts, z):
            if n >= min_burst and s > Z_LIMIT:
                out.append(Anomaly("burst", f"user {u}", float(n), f"{int(n)} submissions in the last {burst_window_s:g}s"))
    for j in jobs:
        if j.max_rss_mb and j.memory_mb and j.memory_mb > OVER_REQUEST_FACTOR * j.max_rss_mb:
            out.append(Anomaly("over-request", f"job {j.id}", j.memory_mb / j.max_rss_mb, f"asked {j.memory_mb} MB, used at most {j.max_rss_mb:.0f} MB"))
    streaks: dict[str, int] = defaultdict(int)
    for j in sorted((j for j in jobs if j.state.terminal), key=lambda j: j.end_time or j.submit_time):
        u = j.user or "-"
        streaks[u] = streaks[u] + 1 if j.state in (JobPhase.FAILED, JobPhase.TIMEOUT) else 0
    for u, n in sorted(streaks.items()):
        if n >= failure_streak:
            out.append(Anomaly("failures", f"user {u}", float(n), f"the last {n} jobs failed"))
    return out


class SubmissionWatch:
    """Per-user state for holds: recent submission times, recent GPU requests, failure streak."""

    def __init__(self, rules: HoldRules = HoldRules()) -> None:
        self.rules = rules
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._requests: dict[str, deque[int]] = defaultdict(lambda: deque(maxlen=rules.history))
        self._streak: dict[str, int] = defaultdict(int)

    def seed(self, history: Sequence[JobRecord]) -> None:
        """Catch up with stored jobs (any order): a restarted service keeps holding a user whose
        jobs kept failing, and counts the submissions of the current window."""
        for j in sorted(history, key=lambda j: j.submit_time):
            user = j.user or "-"
            self._recent[user].append(j.submit_time)
            self._requests[user].append(j.gpus)
        for j in sorted((j for j in history if j.state.terminal), key=lambda j: j.end_time or j.submit_time):
            self.ended(j)

    def submitted(self, job: JobRecord, now: float) -> Anomaly | None:
        """Count a new job; the anomaly that should hold it, if any."""
        user = job.user or "-"
        requests = self._requests[user]
        largest = max(requests, default=0)
        flag = None
        if len(requests) >= self.rules.min_history and job.gpus > self.rules.request_factor * largest:
            flag = Anomaly(
                "over-request", f"job {job.id}", job.gpus / largest,
                f"asks {job.gpus} GPUs; user {user}'s last {len(requests)} jobs asked at most {largest}",
            )  # fmt: skip
        requests.append(job.gpus)
        self._recent[user].append(job.submit_time)
        streak = self._streak[user]
        if flag is None and streak >= self.rules.failure_streak:
            flag = Anomaly("failures", f"user {user}", float(streak), f"the last {streak} jobs of user {user} failed")
        if flag is None and len(self._recent[user]) >= self.rules.min_burst:
            flag = self._burst(user, now)
        return flag

    def _burst(self, user: str, now: float) -> Anomaly | None:
        """`detect`'s burst rule over the users who submitted in the window (only evaluated once
        this user alone has enough submissions to be one)."""
        horizon = now - self.rules.burst_window_s
        counts = {}
        for u, times in list(self._recent.items()):
            while times and times[0] < horizon:
                times.popleft()
            if times:
                counts[u] = len(times)
            else:
                del self._recent[u]
        n = counts.get(user, 0)
        if n < self.rules.min_burst:
            return None
        if len(counts) >= 3:
            users = sorted(counts)
            z = float(robust_z(np.array([counts[u] for u in users], dtype=float), min_scale=1.0)[users.index(user)])
            if z <= Z_LIMIT:
                return None
        return Anomaly("burst", f"user {user}", float(n), f"{n} submissions by user {user} in the last {self.rules.burst_window_s:g}s")

    def ended(self, job: JobRecord) -> None:
        """A job reached a terminal state: failures extend the user's streak, anything else ends it."""
        user = job.user or "-"
        self._streak[user] = self._streak[user] + 1 if job.state in (JobPhase.FAILED, JobPhase.TIMEOUT) else 0

    def requeued(self, job: JobRecord) -> Anomaly | None:
        """A job back in the queue (preempted or retrying): the anomaly that should keep it from
        being restarted, if its runs so far add up to far more than its time limit."""
        ratio = job.run_time_s / job.time_limit_s
        if ratio <= self.rules.overrun_factor:
            return None
        return Anomaly(
            "overrun", f"job {job.id}", ratio,
            f"ran {job.run_time_s:.0f}s over {job.attempt} attempts against a {job.time_limit_s:g}s limit",
        )  # fmt: skip
