"""The simple predictors a learned one must beat, and the fallback before it has learned anything.

- *queue median*: the median duration of the jobs of the same queue that finished before the
  submit (all of them, not a window), else of all finished jobs, else the training median;
- *last similar*: the duration of the last finished job of the same queue and GPU count, else the
  queue median;
- *global median*: one constant, the training jobs' median.

`GroupMedians` is the running median behind the first: a sorted list per queue, O(log n) per
finish and per query, used as it is by the online policies until they have enough history to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sortedcontainers import SortedList

from kaon.predict.features import History, JobColumns


class GroupMedians:
    """Running medians of finished durations, per queue and over all queues."""

    def __init__(self) -> None:
        self._by_queue: dict[str, SortedList] = {}
        self._all = SortedList()

    def __len__(self) -> int:
        return len(self._all)

    def add(self, queue: str, duration: float) -> None:
        bucket = self._by_queue.get(queue)
        if bucket is None:
            bucket = self._by_queue[queue] = SortedList()
        bucket.add(duration)
        self._all.add(duration)

    def median(self, queue: str, default: float) -> float:
        """The queue's median, else the overall median, else `default`."""
        bucket = self._by_queue.get(queue)
        if bucket:
            return _median(bucket)
        return _median(self._all) if self._all else default


def _median(values: SortedList) -> float:
    n = len(values)
    mid = n // 2
    return float(values[mid]) if n % 2 else 0.5 * float(values[mid - 1] + values[mid])


@dataclass(frozen=True)
class BaselinePredictions:
    """Seconds per target job, one array per baseline."""

    queue_median: np.ndarray
    last_similar: np.ndarray
    global_median: np.ndarray


def baseline_predictions(targets: JobColumns, history: History, global_median: float) -> BaselinePredictions:
    """Each baseline for each target, from history events with finish <= the target's submit.

    One pass over events and targets merged in time order (finishes first at equal instants, as in
    the features); O((events + targets) log n)."""
    n, m = len(targets), len(history)
    queue_median = np.empty(n)
    last_similar = np.empty(n)
    medians = GroupMedians()
    last: dict[tuple[str, int], float] = {}
    times = np.concatenate([history.finish, targets.submit])
    kinds = np.concatenate([np.zeros(m, dtype=np.int64), np.ones(n, dtype=np.int64)])
    order = np.lexsort((kinds, times))
    e_queue, e_gpus, e_dur = history.cols.queue, history.cols.num_gpus, history.cols.duration
    for i in order.tolist():
        if i < m:
            q = e_queue[i]
            medians.add(q, float(e_dur[i]))
            last[(q, int(e_gpus[i]))] = float(e_dur[i])
        else:
            t = i - m
            q = targets.queue[t]
            queue_median[t] = medians.median(q, global_median)
            last_similar[t] = last.get((q, int(targets.num_gpus[t])), queue_median[t])
    return BaselinePredictions(queue_median, last_similar, np.full(n, global_median))
