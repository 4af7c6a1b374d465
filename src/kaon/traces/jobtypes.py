"""Giving untyped jobs (Philly's) a Gavel job type, the way Gavel built its Philly-derived traces.

On a heterogeneous cluster a job's speed on each GPU type depends on what it trains; Philly records
only GPU counts and durations. Gavel gave each job of its Philly-derived traces a job type drawn
uniformly from the job types in its throughput table. kaon does the same, restricted to types the
table can actually price at the job's size:

- A job of G GPUs gets a type drawn uniformly from the types the throughput table measured at scale
  S on *every* GPU type in the table, where S is G if measured, else the largest measured scale not
  above G. With Gavel's table (1, 2, 4 and 8 GPUs on K80, P100, V100) that is all 26 types for one
  GPU and 18 above: A3C and CycleGAN were never measured distributed, and ResNet-50 at batch size
  128 not on several K80s. Gavel's published traces did give multi-GPU jobs A3C and CycleGAN
  types, whose multi-GPU speeds the table then has to guess; kaon does not, so every assigned job's
  speed ratio on every type is a measured one.
- Draws use `numpy.random.default_rng(seed)`: one uniform number per untyped job, in trace order,
  so the same trace and seed give the same types on any machine.
- Jobs that already have a type keep it and use no draw. Durations are kept: they are runtimes on
  the reference type, which is what a typed job's duration means too.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kaon.core.job import Trace
from kaon.core.throughput import ThroughputTable, load_throughput_table


def types_by_scale(table: ThroughputTable) -> dict[int, tuple[str, ...]]:
    """Scale -> the job types measured at that scale on every GPU type of `table`, sorted."""
    measured: dict[tuple[str, int], set[str]] = {}
    for gpu_type, job_type, scale in table.rates:
        measured.setdefault((job_type, scale), set()).add(gpu_type)
    everywhere = set(table.gpu_types)
    by_scale: dict[int, list[str]] = {}
    for (job_type, scale), types in measured.items():
        if types == everywhere:
            by_scale.setdefault(scale, []).append(job_type)
    return {s: tuple(sorted(by_scale[s])) for s in sorted(by_scale)}


def candidates_for(num_gpus: int, by_scale: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    """The types a job of `num_gpus` GPUs may get: those of the largest measured scale <= num_gpus."""
    fit = [s for s in by_scale if s <= num_gpus]
    if not fit:
        raise ValueError(f"no job type measured at {num_gpus} GPUs or fewer")
    return by_scale[max(fit)]


def assign_job_types(trace: Trace, seed: int = 0, table: ThroughputTable | None = None) -> Trace:
    """`trace` with every untyped job given a measured Gavel job type (see the module docstring)."""
    by_scale = types_by_scale(table if table is not None else load_throughput_table())
    untyped = [i for i, j in enumerate(trace.jobs) if j.job_type is None]
    if not untyped:
        return trace
    draws = np.random.default_rng(seed).random(len(untyped))
    jobs = list(trace.jobs)
    choices = {g: candidates_for(g, by_scale) for g in {jobs[i].num_gpus for i in untyped}}
    for i, u in zip(untyped, draws):
        options = choices[jobs[i].num_gpus]
        jobs[i] = replace(jobs[i], job_type=options[int(u * len(options))])
    return trace.with_jobs(jobs)
