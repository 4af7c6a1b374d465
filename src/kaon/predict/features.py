"""What a runtime predictor may know about a job when it is submitted, as a numeric matrix.

Two kinds of features, both computable at submit time and nothing later:

- *static*: the request itself (GPU count, allowed GPU types, queue, user, job-name template,
  job type, priority) and when it came (hour of day, day of week);
- *history*: for groups of similar jobs (same queue and GPU count, same queue, same GPU count,
  same user, same user and name template, all jobs), statistics of the last `k` jobs of the
  group that had *finished* by the submit time: median, mean and last log-duration, how many had
  finished, and the time since the last one finished. Recurrent jobs are the norm on shared
  clusters (Helios, SC'21, found most GPU time in jobs resubmitted by the same user), which is why
  these carry most of the signal.

The history comes from a `History`: finished jobs with their finish instants. Offline, on a trace
of past jobs, a job's finish is `submit_time + duration` (the earliest it can have finished: a
trace of submit times does not say how long a job queued, so this errs towards *more* history).
Online, in the simulator or the service, it is the observed finish. `history_features` computes
the batch case with a handful of numpy operations over the whole trace (sort events by group and
finish time, one `searchsorted` per job); `RunningHistory` keeps the same statistics incrementally
for a scheduler that sees one finish and one arrival at a time. Both give the same numbers, which
a test checks.
"""

from __future__ import annotations

import math
import re
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from kaon.core.job import JobSpec, Trace

DEFAULT_K = 10
"""How many recent finished jobs of a group the window statistics look at."""

MAX_CODES = 250
"""Most categories one categorical feature keeps (by frequency); rarer values share the `other`
code, so a model never splits on a category seen a handful of times."""

HISTORY_STATS = ("median", "mean", "last", "count", "since")
"""Per group: median / mean / last log-duration of the last k finished, log1p(finished count),
log1p(seconds since the last finish). Missing (no finished job yet) is NaN, which the model
handles natively."""

_DIGITS = re.compile(r"\d+")


def name_template(name: str | None) -> str:
    """A job name with its numbers masked (`exp-12-lr0.1` -> `exp-#-lr#.#`): recurrent runs of one
    experiment differ by a counter or a hyper-parameter, and should share a group."""
    return "" if not name else _DIGITS.sub("#", name.strip().lower())


@dataclass(frozen=True)
class JobColumns:
    """A job list as columns: what both the batch features and the model read."""

    job_id: np.ndarray
    submit: np.ndarray
    duration: np.ndarray
    num_gpus: np.ndarray
    queue: np.ndarray
    user: np.ndarray
    name: np.ndarray
    job_type: np.ndarray
    allowed: np.ndarray
    priority: np.ndarray

    @classmethod
    def of(cls, jobs: Sequence[JobSpec]) -> JobColumns:
        def obj(values: list[str]) -> np.ndarray:
            out = np.empty(len(values), dtype=object)
            out[:] = values
            return out

        return cls(
            job_id=obj([j.job_id for j in jobs]),
            submit=np.array([j.submit_time for j in jobs], dtype=np.float64),
            duration=np.array([j.duration for j in jobs], dtype=np.float64),
            num_gpus=np.array([j.num_gpus for j in jobs], dtype=np.int64),
            queue=obj([j.queue for j in jobs]),
            user=obj([j.user or "" for j in jobs]),
            name=obj([name_template(j.name) for j in jobs]),
            job_type=obj([j.job_type or "" for j in jobs]),
            allowed=obj([";".join(sorted(j.allowed_types)) if j.allowed_types else "" for j in jobs]),
            priority=np.array([j.priority for j in jobs], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.submit)

    def take(self, idx: np.ndarray) -> JobColumns:
        return JobColumns(**{k: v[idx] for k, v in self.__dict__.items()})

    @staticmethod
    def concat(parts: Sequence[JobColumns]) -> JobColumns:
        keys = JobColumns.__dataclass_fields__
        return JobColumns(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in keys})


@dataclass(frozen=True)
class GroupSpec:
    """A group of similar jobs, by the spec fields they share (values joined into one key)."""

    name: str
    fields: tuple[str, ...]

    def keys(self, cols: JobColumns) -> np.ndarray:
        if not self.fields:
            return np.zeros(len(cols), dtype=object) if len(cols) else np.empty(0, dtype=object)
        parts = [getattr(cols, f) for f in self.fields]
        out = np.empty(len(cols), dtype=object)
        out[:] = ["\x1f".join(map(str, vals)) for vals in zip(*parts)] if len(cols) else []
        return out

    def key(self, spec: JobSpec) -> str | int:
        if not self.fields:
            return 0
        return "\x1f".join(str(_spec_value(spec, f)) for f in self.fields)


def _spec_value(spec: JobSpec, column: str) -> object:
    if column == "user":
        return spec.user or ""
    if column == "name":
        return name_template(spec.name)
    return getattr(spec, column)


GROUPS_ALWAYS = (
    GroupSpec("vc_gpus", ("queue", "num_gpus")),
    GroupSpec("vc", ("queue",)),
    GroupSpec("gpus", ("num_gpus",)),
    GroupSpec("all", ()),
)
GROUPS_USER = (GroupSpec("user", ("user",)),)
GROUPS_NAME = (GroupSpec("user_name", ("user", "name")),)
GROUPS_ALL = GROUPS_ALWAYS + GROUPS_USER + GROUPS_NAME


@dataclass(frozen=True)
class History:
    """Finished jobs and the instant each finished, in one time base with the jobs to featurise."""

    cols: JobColumns
    finish: np.ndarray

    @classmethod
    def of_trace_jobs(cls, cols: JobColumns) -> History:
        """Past jobs of a trace: each finished `duration` after its submit (the earliest possible)."""
        return cls(cols, cols.submit + cols.duration)

    def shifted(self, seconds: float) -> History:
        """The same history with every instant moved by `seconds` (another trace's time base)."""
        if seconds == 0:
            return self
        cols = JobColumns(**{**self.cols.__dict__, "submit": self.cols.submit + seconds})
        return History(cols, self.finish + seconds)

    def __len__(self) -> int:
        return len(self.finish)


def history_features(
    targets: JobColumns, history: History, groups: Sequence[GroupSpec], k: int = DEFAULT_K
) -> np.ndarray:
    """(len(targets), len(groups) * 5) history statistics, from events with finish <= submit.

    Per group: one integer key per (group, instant) pair, events sorted by it, and for each target
    the events of its group finished by its submit are the slice [start, end) found with two binary
    searches; the last-k window is a (targets x k) gather."""
    n, m = len(targets), len(history)
    out = np.full((n, len(groups) * len(HISTORY_STATS)), np.nan)
    if n == 0:
        return out
    logdur = np.log(history.cols.duration)
    _, rank = np.unique(np.concatenate([history.finish, targets.submit]), return_inverse=True)
    span = np.int64(n + m + 1)
    e_rank, t_rank = rank[:m].astype(np.int64), rank[m:].astype(np.int64)
    for gi, group in enumerate(groups):
        _, inv = np.unique(np.concatenate([group.keys(history.cols), group.keys(targets)]), return_inverse=True)
        e_group, t_group = inv[:m].astype(np.int64), inv[m:].astype(np.int64)
        e_key = e_group * span + e_rank
        order = np.argsort(e_key, kind="stable")
        sorted_key = e_key[order]
        v = logdur[order]
        f = history.finish[order]
        end = np.searchsorted(sorted_key, t_group * span + t_rank, side="right")
        start = np.searchsorted(sorted_key, t_group * span, side="left")
        count = end - start
        has = count > 0
        col = gi * len(HISTORY_STATS)
        out[:, col + 3] = np.log1p(count)
        if not has.any():
            continue
        idx = end[has, None] - k + np.arange(k)
        valid = idx >= start[has, None]
        window = np.where(valid, v[np.clip(idx, 0, max(m - 1, 0))], np.nan)
        out[has, col + 0] = np.nanmedian(window, axis=1)
        out[has, col + 1] = np.nanmean(window, axis=1)
        last = end[has] - 1
        out[has, col + 2] = v[last]
        out[has, col + 4] = np.log1p(np.maximum(targets.submit[has] - f[last], 0.0))
    return out


class _GroupState:
    __slots__ = ("recent", "count", "last_finish")

    def __init__(self, k: int) -> None:
        self.recent: deque[float] = deque(maxlen=k)
        self.count = 0
        self.last_finish = 0.0


class RunningHistory:
    """`history_features` kept incrementally: `add` each finish in time order, ask `features` for
    a job at its arrival. Costs O(groups x k) per call, whatever the history's length."""

    def __init__(self, groups: Sequence[GroupSpec], k: int = DEFAULT_K) -> None:
        self.groups = tuple(groups)
        self.k = k
        self._state: list[dict[str | int, _GroupState]] = [{} for _ in self.groups]

    def add(self, spec: JobSpec, finish: float) -> None:
        value = math.log(spec.duration)
        for group, states in zip(self.groups, self._state):
            key = group.key(spec)
            st = states.get(key)
            if st is None:
                st = states[key] = _GroupState(self.k)
            st.recent.append(value)
            st.count += 1
            st.last_finish = finish

    def features(self, spec: JobSpec, now: float) -> np.ndarray:
        """Plain Python over at most k values per group: numpy's per-call overhead on arrays this
        small would cost ten times more, at every arrival."""
        row: list[float] = []
        nan = math.nan
        for group, states in zip(self.groups, self._state):
            st = states.get(group.key(spec))
            if st is None:
                row += (nan, nan, nan, 0.0, nan)
                continue
            recent = sorted(st.recent)
            n, mid = len(recent), len(recent) // 2
            median = recent[mid] if n % 2 else (recent[mid - 1] + recent[mid]) / 2
            row += (
                median,
                sum(st.recent) / n,
                st.recent[-1],
                math.log1p(st.count),
                math.log1p(max(now - st.last_finish, 0.0)),
            )
        return np.array(row)


class Vocabulary:
    """Category -> code, learned at fit time: the `MAX_CODES` most frequent values (ties in order of
    first appearance) get 0..n-1; every other or unseen value gets its own code n."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)
        self._code = {v: i for i, v in enumerate(self.values)}

    @classmethod
    def learn(cls, column: np.ndarray) -> Vocabulary:
        counts = Counter(column.tolist())
        first = {v: i for i, v in reversed(list(enumerate(column.tolist())))}
        ranked = sorted(counts, key=lambda v: (-counts[v], first[v]))
        return cls(ranked[:MAX_CODES])

    @property
    def other(self) -> int:
        return len(self.values)

    def codes(self, column: np.ndarray) -> np.ndarray:
        other = self.other
        return np.array([self._code.get(v, other) for v in column.tolist()], dtype=np.float64)


CATEGORICAL = ("queue", "allowed", "user", "name", "job_type")
"""Categorical columns; user, name and job_type only when the training jobs have them."""


@dataclass(frozen=True)
class FeatureSchema:
    """Which features a fitted predictor uses and the category codes it learned: the part of a
    model that must travel with it so that prediction builds the same columns as training."""

    categorical: tuple[str, ...]
    vocabularies: tuple[Vocabulary, ...]
    groups: tuple[GroupSpec, ...]
    k: int

    @classmethod
    def learn(
        cls, cols: JobColumns, k: int = DEFAULT_K, groups: tuple[GroupSpec, ...] | None = None
    ) -> FeatureSchema:
        """Categories and history groups from the training jobs; `groups` fixes the groups instead
        (an online learner computes history features before it has seen any training job)."""
        has = {c: bool(np.any(getattr(cols, c) != "")) for c in ("user", "name", "job_type")}
        categorical = tuple(c for c in CATEGORICAL if c in ("queue", "allowed") or has[c])
        if groups is None:
            groups = GROUPS_ALWAYS + (GROUPS_USER if has["user"] else ()) + (GROUPS_NAME if has["name"] else ())
        vocabularies = tuple(Vocabulary.learn(getattr(cols, c)) for c in categorical)
        return cls(categorical, vocabularies, groups, k)

    @property
    def names(self) -> tuple[str, ...]:
        static = ("log2_gpus", "priority", "hour", "weekday")
        cats = tuple(f"{c}_code" for c in self.categorical)
        hist = tuple(f"{g.name}_{s}" for g in self.groups for s in HISTORY_STATS)
        return static + cats + hist

    def static(self, cols: JobColumns, epoch: datetime | None) -> np.ndarray:
        hour, weekday = clock_features(cols.submit, epoch)
        parts = [np.log2(cols.num_gpus.astype(np.float64)), cols.priority, hour, weekday]
        parts += [v.codes(getattr(cols, c)) for c, v in zip(self.categorical, self.vocabularies)]
        return np.column_stack(parts) if len(cols) else np.empty((0, len(parts)))

    def matrix(self, cols: JobColumns, history: np.ndarray, epoch: datetime | None) -> np.ndarray:
        """Static columns then the history columns (from `history_features` or `RunningHistory`)."""
        return np.hstack([self.static(cols, epoch), history])


def clock_features(submit: np.ndarray, epoch: datetime | None) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (fractional) and day of week (0 = Monday) of each submit. Without an epoch the
    trace's time 0 is taken as a Monday midnight, so daily and weekly cycles still line up."""
    if epoch is None:
        offset, weekday0 = 0.0, 0
    else:
        midnight = epoch.replace(hour=0, minute=0, second=0, microsecond=0)
        offset, weekday0 = (epoch - midnight).total_seconds(), epoch.weekday()
    t = submit + offset
    hour = (t % 86400.0) / 3600.0
    weekday = (np.floor(t / 86400.0) + weekday0) % 7
    return hour, weekday


def trace_features(trace: Trace, schema: FeatureSchema | None = None) -> tuple[FeatureSchema, np.ndarray]:
    """The feature matrix of every job of a trace, with history from the trace's own earlier jobs."""
    cols = JobColumns.of(trace.jobs)
    schema = schema or FeatureSchema.learn(cols)
    hist = history_features(cols, History.of_trace_jobs(cols), schema.groups, schema.k)
    return schema, schema.matrix(cols, hist, trace.epoch)
