"""Seeded synthetic traces: Poisson arrivals, heavy-tailed durations, Philly-like GPU counts.

For tests and benchmarks that need a trace of a given size and load without shipping one. The
shape follows Philly's published statistics: most jobs use one GPU, durations are log-normal with a
median of about half an hour and a tail of days.
"""

from __future__ import annotations

import numpy as np

from kaon.core.job import JobSpec, Trace

GPU_CHOICES = np.array([1, 2, 4, 8, 16])
GPU_WEIGHTS = np.array([0.80, 0.08, 0.06, 0.05, 0.01])


def synthetic_trace(
    n_jobs: int,
    *,
    seed: int = 0,
    mean_interarrival_s: float = 60.0,
    median_duration_s: float = 1800.0,
    sigma: float = 1.8,
    max_gpus: int = 16,
    queues: int = 4,
    job_types: tuple[str, ...] = (),
) -> Trace:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(mean_interarrival_s, n_jobs))
    arrivals -= arrivals[0]
    durations = np.maximum(1.0, np.round(rng.lognormal(np.log(median_duration_s), sigma, n_jobs)))
    allowed = GPU_CHOICES <= max_gpus
    weights = GPU_WEIGHTS[allowed] / GPU_WEIGHTS[allowed].sum()
    gpus = rng.choice(GPU_CHOICES[allowed], n_jobs, p=weights)
    queue_ids = rng.integers(0, queues, n_jobs)
    types = rng.integers(0, len(job_types), n_jobs) if job_types else None
    jobs = tuple(
        JobSpec(
            job_id=f"syn-{i}",
            submit_time=float(arrivals[i]),
            duration=float(durations[i]),
            num_gpus=int(gpus[i]),
            queue=f"q{queue_ids[i]}",
            job_type=job_types[types[i]] if types is not None else None,
        )
        for i in range(n_jobs)
    )
    return Trace(jobs, source=f"synthetic(n={n_jobs}, seed={seed})", format="synthetic")
