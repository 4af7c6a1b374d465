"""Offered load of a window, and the cluster size that offers a target load.

Offered load = the GPU-time the window's jobs demand inside the window / the cluster's GPU-time
over the window. A job demands its GPU count times its runtime alone on its fastest allowed GPU
type, counted only up to the window's end (a 50-day job submitted on the last day demands one day,
not 50), so the load says how busy the window keeps the cluster, not how long its tail runs.
Cluster GPU-time counts every GPU alike: on a heterogeneous cluster, load 1.0 leaves slower GPUs
more to do than their share, which is what a heterogeneity-aware policy has to cope with.

A target load is reached by scaling the cluster (`ClusterSpec.scaled`, which rounds each node group
to whole nodes), never by compressing arrivals, so the window's arrival pattern stays the real one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kaon.core.cluster import ClusterSpec
from kaon.core.job import Trace
from kaon.core.throughput import SpeedModel


def demanded_gpu_seconds(trace: Trace, cluster: ClusterSpec, span_s: float) -> float:
    """GPU-seconds the jobs of `trace` (a window rebased to start at 0) demand before `span_s`.

    Jobs no GPU type of `cluster` can run (speed 0 on every allowed type) demand nothing: they are
    reported as unschedulable by the simulator, not counted as load no cluster size could serve.
    """
    if not trace.jobs:
        return 0.0
    model = SpeedModel(cluster)
    speeds = model.matrix([j.job_type for j in trace.jobs], [j.num_gpus for j in trace.jobs])
    names = cluster.type_names
    masks = {
        allowed: np.array([n in allowed for n in names])
        for allowed in {j.allowed_types for j in trace.jobs if j.allowed_types is not None}
    }
    for i, job in enumerate(trace.jobs):
        if job.allowed_types is not None:
            speeds[i] = np.where(masks[job.allowed_types], speeds[i], 0.0)
    fastest = speeds.max(axis=1)
    runnable = fastest > 0
    submit = np.array([j.submit_time for j in trace.jobs], dtype=np.float64)[runnable]
    duration = np.array([j.duration for j in trace.jobs], dtype=np.float64)[runnable]
    gpus = np.array([j.num_gpus for j in trace.jobs], dtype=np.float64)[runnable]
    inside = np.clip(np.minimum(submit + duration / fastest[runnable], span_s) - submit, 0.0, None)
    return float((gpus * inside).sum())


def offered_load(trace: Trace, cluster: ClusterSpec, span_s: float) -> float:
    """Demanded GPU-time inside the window / the cluster's GPU-time over it."""
    if not span_s > 0:
        raise ValueError(f"window length must be > 0 s, got {span_s}")
    return demanded_gpu_seconds(trace, cluster, span_s) / (cluster.total_gpus * span_s)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The cluster scale chosen for a target load and the load it actually offers."""

    target_load: float
    scale: float
    total_gpus: int
    achieved_load: float


def size_for_load(trace: Trace, cluster: ClusterSpec, span_s: float, target: float) -> tuple[ClusterSpec, Sizing]:
    """`cluster` scaled so the window offers as close to `target` load as whole nodes allow.

    Load is inversely proportional to the GPU count, so the ideal scale is load(x1) / target; the
    candidates are the scales that give each node group a whole node count next to the ideal one,
    and the one whose achieved load is nearest the target wins (the smaller scale on a tie).
    """
    if not target > 0:
        raise ValueError(f"target load must be > 0, got {target}")
    demand = demanded_gpu_seconds(trace, cluster, span_s)
    if demand <= 0:
        raise ValueError(f"{trace.source}: the window's jobs demand no GPU time on {cluster.name}")
    ideal = demand / (cluster.total_gpus * span_s) / target
    groups = {int(n) for n in np.bincount(cluster.node_type) if n > 0}
    candidates = sorted(
        {k / n for n in groups for k in range(max(1, math.floor(ideal * n) - 1), math.ceil(ideal * n) + 2)}
    )

    def miss(scale: float) -> tuple[float, float]:
        gpus = cluster.scaled(scale).total_gpus
        return abs(demand / (gpus * span_s) - target), scale

    scale = min(candidates, key=miss)
    scaled = cluster.scaled(scale)
    return scaled, Sizing(target, scale, scaled.total_gpus, demand / (scaled.total_gpus * span_s))
