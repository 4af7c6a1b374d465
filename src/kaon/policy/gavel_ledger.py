"""Gavel's time accounting (`TimeLedger`): what each active job received per account since the
last reset, what it is owed, and its allocation, in slot arrays a round reads with one fancy
index. `kaon.policy.gavel` decides with it; see that module for the rounds themselves.
"""

from __future__ import annotations

import numpy as np

UNSERVED_PRIORITY = 1e9
"""Gavel's priority multiplier for a pair that has had no time yet: large but finite, so a
larger allocation still ranks first among unserved pairs."""


class TimeLedger:
    """Per active job: time run per *account* since the last reset, deficit and allocation, plus
    what a round needs to know of the job (GPU count, the GPU types it may use, the type it runs
    on now, its arrival order).

    An account is a GPU type for the heterogeneity-aware policy and the one pooled type for the
    agnostic one. Rows live in slot arrays reused as jobs come and go, so a round reads them with
    one fancy index. Open run segments (running jobs) are tracked by start time and account and
    folded into the totals when they close or when a round reads the ledger.
    """

    def __init__(self, accounts: int, gpu_types: int) -> None:
        self.k = accounts
        self.gpu_types = gpu_types
        self.slot: dict[str, int] = {}
        self._free: list[int] = []
        self._seq = 0
        self.received = np.zeros((0, accounts))
        self.deficit = np.zeros((0, accounts))
        self.alloc = np.zeros((0, accounts))
        self.seg_start = np.zeros(0)
        self.seg_account = np.zeros(0, dtype=np.int64)
        self.since = np.zeros(0)
        """When each job's current accounting period began: its arrival or the last reset."""
        self.gpus = np.zeros(0, dtype=np.int64)
        self.usable = np.zeros((0, gpu_types), dtype=bool)
        self.on_type = np.zeros(0, dtype=np.int64)
        """The GPU type each job runs on now, -1 while it is not running."""
        self.seq = np.zeros(0, dtype=np.int64)
        self.active = np.zeros(0, dtype=bool)
        self.type_time = np.zeros(accounts)
        """Time run on each account by all jobs since the last reset (Gavel's worker_time_so_far)."""

    def add(self, job_id: str, now: float, gpus: int, usable: np.ndarray) -> int:
        if not self._free:
            self._grow()
        s = self._free.pop()
        self.received[s] = 0.0
        self.deficit[s] = 0.0
        self.alloc[s] = 0.0
        self.seg_start[s] = np.nan
        self.since[s] = now
        self.gpus[s] = gpus
        self.usable[s] = usable
        self.on_type[s] = -1
        self.seq[s] = self._seq
        self._seq += 1
        self.active[s] = True
        self.slot[job_id] = s
        return s

    def _grow(self) -> None:
        """Double the slot arrays; called only when every slot is taken."""
        old = self.received.shape[0]
        extra = max(64, old)

        def more(a: np.ndarray, fill: float | int | bool = 0) -> np.ndarray:
            return np.concatenate([a, np.full((extra, *a.shape[1:]), fill, dtype=a.dtype)])

        self.received, self.deficit, self.alloc = more(self.received), more(self.deficit), more(self.alloc)
        self.seg_start, self.seg_account = more(self.seg_start, np.nan), more(self.seg_account)
        self.since, self.gpus, self.usable = more(self.since), more(self.gpus), more(self.usable, False)
        self.on_type, self.seq, self.active = more(self.on_type, -1), more(self.seq), more(self.active, False)
        self._free = list(range(old + extra - 1, old - 1, -1))

    def remove(self, job_id: str) -> None:
        s = self.slot.pop(job_id)
        self.active[s] = False
        self._free.append(s)

    def active_slots(self) -> np.ndarray:
        """Slots of the active jobs in arrival order (ties in a round keep arrival order)."""
        slots = np.flatnonzero(self.active)
        return slots[np.argsort(self.seq[slots], kind="stable")]

    def open(self, job_id: str, account: int, gpu_type: int, now: float) -> None:
        s = self.slot[job_id]
        self.seg_start[s] = now
        self.seg_account[s] = account
        self.on_type[s] = gpu_type

    def close(self, job_id: str, now: float) -> None:
        s = self.slot[job_id]
        dt = now - self.seg_start[s]
        a = self.seg_account[s]
        self.received[s, a] += dt
        self.type_time[a] += dt
        self.seg_start[s] = np.nan
        self.on_type[s] = -1

    def flush(self, slots: np.ndarray, now: float) -> None:
        """Fold the open segments of `slots` into the totals up to `now`."""
        start = self.seg_start[slots]
        open_ = ~np.isnan(start)
        s = slots[open_]
        dt = now - start[open_]
        a = self.seg_account[s]
        np.add.at(self.received, (s, a), dt)
        self.type_time += np.bincount(a, weights=dt, minlength=self.k)
        self.seg_start[s] = now

    def reset(self, slots: np.ndarray, now: float) -> None:
        """Start a new accounting period: each job's deficit grows by what its allocation promised
        over its part of the period minus what it got (Gavel's `_reset_time_run_so_far`)."""
        elapsed = now - self.since[slots]
        self.deficit[slots] += self.alloc[slots] * elapsed[:, None] - self.received[slots]
        self.received[slots] = 0.0
        self.since[slots] = now
        self.type_time[:] = 0.0

    def priorities(self, slots: np.ndarray) -> np.ndarray:
        """Gavel's `X / f` per job and account: `X * 1e9` where it has had no time, 0 where X is 0."""
        x = self.alloc[slots]
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(self.type_time > 0, self.received[slots] / self.type_time, 0.0)
            return np.where(x > 0, np.where(fraction > 0, x / fraction, x * UNSERVED_PRIORITY), 0.0)
