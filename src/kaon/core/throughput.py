"""Job speed per GPU type, from Gavel's measured throughput table.

Speeds are relative to the cluster's reference type: a job whose `duration` is D seconds on the
reference type finishes in D / speed seconds on a type of that speed. A job type the table measured
uses the measured ratio; an untyped job (Philly has no types) uses the type's default speed, which
for a type in the table is the geometric mean of its ratios over all measured job types.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kaon.core.cluster import ClusterSpec

BUNDLED_TABLE = Path(__file__).resolve().parent.parent / "data" / "gavel_throughputs.json"


@dataclass(frozen=True)
class ThroughputTable:
    """Isolated throughput (steps/s) keyed by (gpu type, job type, number of GPUs)."""

    rates: dict[tuple[str, str, int], float]

    @property
    def gpu_types(self) -> tuple[str, ...]:
        return tuple(sorted({k[0] for k in self.rates}))

    @property
    def job_types(self) -> tuple[str, ...]:
        return tuple(sorted({k[1] for k in self.rates}))

    def throughput(self, gpu_type: str, job_type: str, num_gpus: int) -> float | None:
        """Steps/s of `job_type` on `num_gpus` GPUs of `gpu_type`; the largest measured scale not
        above `num_gpus` when that exact one was not measured; None when never measured."""
        gpu_type = gpu_type.lower()
        scales = sorted(s for (g, j, s) in self.rates if g == gpu_type and j == job_type)
        if not scales:
            return None
        fit = [s for s in scales if s <= num_gpus] or scales[:1]
        return self.rates[(gpu_type, job_type, fit[-1])]

    def default_speed(self, gpu_type: str, reference: str) -> float | None:
        """Geometric mean over job types of throughput(gpu_type) / throughput(reference), 1 GPU."""
        ratios = []
        for jt in self.job_types:
            a, b = self.throughput(gpu_type, jt, 1), self.throughput(reference, jt, 1)
            if a and b:
                ratios.append(a / b)
        return float(np.exp(np.mean(np.log(ratios)))) if ratios else None


def parse_gavel_table(doc: dict, source: str = "") -> ThroughputTable:
    rates: dict[tuple[str, str, int], float] = {}
    for gpu_type, entries in doc.items():
        if gpu_type.endswith("_unconsolidated"):
            continue
        for key, value in entries.items():
            try:
                job_type, scale = ast.literal_eval(key)
            except (ValueError, SyntaxError):
                raise ValueError(f"{source}: bad key {key!r} under {gpu_type!r}") from None
            iso = value.get("null") if isinstance(value, dict) else None
            if iso:
                rates[(gpu_type.lower(), str(job_type), int(scale))] = float(iso)
    return ThroughputTable(rates)


@lru_cache(maxsize=4)
def load_throughput_table(path: str | None = None) -> ThroughputTable:
    p = Path(path) if path else BUNDLED_TABLE
    return parse_gavel_table(json.loads(p.read_text()), str(p))


class SpeedModel:
    """Speed of each job on each GPU type of one cluster, as an (n_jobs, n_types) matrix."""

    def __init__(self, cluster: ClusterSpec, table: ThroughputTable | None = None) -> None:
        self.cluster = cluster
        self.table = table if table is not None else load_throughput_table()
        ref = cluster.reference_type.lower()
        defaults = []
        for t in cluster.gpu_types:
            measured = self.table.default_speed(t.name, ref) if t.name.lower() in self.table.gpu_types else None
            defaults.append(measured if measured is not None else t.speed)
        self.default_speeds = np.array(defaults, dtype=np.float64)
        self._typed: dict[tuple[str, int], np.ndarray] = {}

    def speeds(self, job_type: str | None, num_gpus: int) -> np.ndarray:
        if job_type is None:
            return self.default_speeds
        key = (job_type, num_gpus)
        if key not in self._typed:
            ref = self.cluster.reference_type.lower()
            base = self.table.throughput(ref, job_type, num_gpus)
            row = self.default_speeds.copy()
            if base:
                for i, t in enumerate(self.cluster.gpu_types):
                    thr = self.table.throughput(t.name, job_type, num_gpus)
                    if thr:
                        row[i] = thr / base
            self._typed[key] = row
        return self._typed[key]

    def matrix(self, job_types: Sequence[str | None], num_gpus: Sequence[int]) -> np.ndarray:
        return np.array([self.speeds(jt, g) for jt, g in zip(job_types, num_gpus)], dtype=np.float64).reshape(
            len(job_types), len(self.cluster.gpu_types)
        )
