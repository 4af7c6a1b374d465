"""Fair-share quotas in Kueue's ClusterQueue model: the `QuotaBook`, read from YAML.

Each queue has, per GPU type, a `nominal` share (GPUs it is guaranteed), a `borrowing_limit` (how
many GPUs beyond nominal it may borrow from other queues' unused nominal) and a `lending_limit`
(how much of its unused nominal the others may borrow). All queues form one cohort.

The accounting reduces to two numbers per (queue, type), so admission is a vector check:
- `guaranteed = nominal - lendable` is the part of a queue's nominal nobody else can ever use;
- `lendable = min(lending_limit, nominal)` goes into the cohort's shared pool.
A queue's usage above its guaranteed part draws on the pool; the sum of those draws may not exceed
the pool, and no queue may use more than `nominal + borrowing_limit`. A queue below its nominal
whose own jobs cannot start because others borrowed is what triggers a reclaim (`QuotaPolicy`).

A (queue, type) the file does not mention has nominal 0, may borrow without limit, and lends
nothing: such a queue runs best-effort on what others lend, and never blocks a listed queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from kaon.core.cluster import ClusterSpec

UNLIMITED = np.iinfo(np.int64).max // 4
"""Stands for "no limit" in the int arrays; large, yet sums of a few never overflow."""

_FIELDS = ("nominal", "borrowing_limit", "lending_limit")


class QuotaError(ValueError):
    """A quota file is malformed, or names a GPU type the cluster lacks; the message says where."""


@dataclass(frozen=True, slots=True)
class TypeQuota:
    """One queue's quota on one GPU type; None limits mean unlimited (Kueue's unset fields)."""

    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None


@dataclass(frozen=True)
class QuotaBook:
    """Per-queue, per-type quotas. `source` names the file in error messages."""

    queues: Mapping[str, Mapping[str, TypeQuota]]
    source: str = "<quotas>"

    def bind(self, cluster: ClusterSpec) -> BoundQuotas:
        """Arrays over (queue, type) for `cluster`; a GPU type the cluster lacks is an error."""
        names = cluster.type_names
        queue_names = tuple(sorted(self.queues))
        shape = (len(queue_names), len(names))
        nominal = np.zeros(shape, dtype=np.int64)
        borrow = np.full(shape, UNLIMITED, dtype=np.int64)
        lend = np.zeros(shape, dtype=np.int64)
        for qi, q in enumerate(queue_names):
            for t, quota in self.queues[q].items():
                if t not in names:
                    raise QuotaError(f"{self.source}: queues.{q}.{t}: GPU type {t!r} is not in cluster {cluster.name} {list(names)}")
                ti = names.index(t)
                nominal[qi, ti] = quota.nominal
                borrow[qi, ti] = UNLIMITED if quota.borrowing_limit is None else quota.borrowing_limit
                lend[qi, ti] = quota.nominal if quota.lending_limit is None else min(quota.lending_limit, quota.nominal)
        return BoundQuotas(queue_names, nominal, borrow, lend)


@dataclass(frozen=True)
class BoundQuotas:
    """A `QuotaBook` as arrays [queue, type]; row `len(queues)` is the implicit best-effort queue
    every unlisted queue maps to (nominal 0, unlimited borrowing, lends nothing)."""

    queues: tuple[str, ...]
    nominal: np.ndarray
    borrowing: np.ndarray
    lendable: np.ndarray
    guaranteed: np.ndarray = field(init=False)
    """`nominal - lendable`: the part of a queue's nominal nobody else can use."""
    ceiling: np.ndarray = field(init=False)
    """Most GPUs a queue may hold per type: nominal + borrowing limit."""
    pool: np.ndarray = field(init=False)
    """GPUs per type the cohort shares: every queue's lendable part."""
    nominal_rows: list[list[int]] = field(init=False, repr=False, compare=False)
    guaranteed_rows: list[list[int]] = field(init=False, repr=False, compare=False)
    ceiling_rows: list[list[int]] = field(init=False, repr=False, compare=False)
    pool_list: list[int] = field(init=False, repr=False, compare=False)
    """The same as plain ints, for the per-start checks of `QuotaPolicy` (no numpy call overhead)."""

    def __post_init__(self) -> None:
        types = self.nominal.shape[1]
        zero = np.zeros((1, types), dtype=np.int64)
        nominal = np.vstack([self.nominal, zero])
        borrowing = np.vstack([self.borrowing, np.full((1, types), UNLIMITED)])
        lendable = np.vstack([self.lendable, zero])
        # Derived once: `admits` runs for every proposed start, and recomputing these per call
        # (three whole-array operations) was most of its cost.
        derived = {
            "nominal": nominal,
            "borrowing": borrowing,
            "lendable": lendable,
            "guaranteed": nominal - lendable,
            "ceiling": np.minimum(nominal + borrowing, UNLIMITED),
            "pool": lendable.sum(axis=0),
            "_index": {q: i for i, q in enumerate(self.queues)},
        }
        derived.update(
            nominal_rows=nominal.tolist(),
            guaranteed_rows=derived["guaranteed"].tolist(),
            ceiling_rows=derived["ceiling"].tolist(),
            pool_list=derived["pool"].tolist(),
        )
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    def row(self, queue: str) -> int:
        return self._index.get(queue, len(self.queues))  # type: ignore[attr-defined]

    def pool_draw(self, usage: np.ndarray) -> np.ndarray:
        """GPUs per type drawn from the shared pool by `usage` [queue, type]."""
        return np.maximum(usage - self.guaranteed, 0).sum(axis=0)

    def admits(self, usage: np.ndarray, q: int, t: int, gpus: int) -> bool:
        """Whether queue row `q` may take `gpus` more GPUs of type `t` on top of `usage`."""
        used = int(usage[q, t])
        if used + gpus > int(self.ceiling[q, t]):
            return False
        guaranteed = int(self.guaranteed[q, t])
        extra = max(used + gpus - guaranteed, 0) - max(used - guaranteed, 0)
        return extra == 0 or int(self.pool_draw(usage)[t]) + extra <= int(self.pool[t])


MAX_GPUS = 1 << 40
"""No cluster has more GPUs; a larger count is a typo, and past int64 it would not even fit the
quota arrays."""


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GPUS:
        raise QuotaError(f"{where}: must be a whole number from 0 to {MAX_GPUS}, got {value!r}")
    return value


def parse_quotas(doc: object, source: str) -> QuotaBook:
    """A `QuotaBook` from a parsed YAML document `{queues: {Q: {TYPE: {nominal, ...}}}}`."""
    if not isinstance(doc, dict) or set(doc) != {"queues"}:
        raise QuotaError(f"{source}: expected a mapping with exactly one key `queues`")
    queues = doc["queues"]
    if not isinstance(queues, dict) or not queues:
        raise QuotaError(f"{source}: queues: expected a non-empty mapping of queue name to per-type quotas")
    out: dict[str, dict[str, TypeQuota]] = {}
    for q, types in queues.items():
        if not isinstance(q, str) or not isinstance(types, dict) or not types:
            raise QuotaError(f"{source}: queues.{q}: expected a non-empty mapping of GPU type to quota")
        out[q] = {}
        for t, quota in types.items():
            where = f"{source}: queues.{q}.{t}"
            if not isinstance(quota, dict):
                raise QuotaError(f"{where}: expected a mapping with {', '.join(_FIELDS)}")
            unknown = sorted(set(quota) - set(_FIELDS), key=str)  # YAML keys may be numbers too
            if unknown:
                raise QuotaError(f"{where}.{unknown[0]}: unknown field (expected {', '.join(_FIELDS)})")
            if "nominal" not in quota:
                raise QuotaError(f"{where}.nominal: missing")
            limits = {k: None if quota.get(k) is None else _count(quota[k], f"{where}.{k}") for k in _FIELDS[1:]}
            out[q][str(t)] = TypeQuota(_count(quota["nominal"], f"{where}.nominal"), **limits)
    return QuotaBook(out, source)


def load_quotas(path: str | Path) -> QuotaBook:
    """Read a quota YAML file; errors name the file and the field."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as e:
        raise QuotaError(f"{path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise QuotaError(f"{path}: not valid YAML: {e}") from None
    return parse_quotas(doc, str(path))
