"""jobs-<policy>.csv: one row per job of the scenario, for analysis outside kaon.

Columns (seconds since the scenario's start): job_id, queue, num_gpus, submit_s, first_start_s,
finish_s, jct_s, queue_s, run_s, preemptions, slowdown, status. Values that do not exist for a job
(a finish time for a job that never finished) are empty cells, not zeros.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from kaon.sim.metrics import JobTable

COLUMNS = (
    "job_id",
    "queue",
    "num_gpus",
    "submit_s",
    "first_start_s",
    "finish_s",
    "jct_s",
    "queue_s",
    "run_s",
    "preemptions",
    "slowdown",
    "status",
)


def jobs_csv_name(policy_spec: str) -> str:
    """`jobs-<spec>.csv` with every character outside [A-Za-z0-9._-] replaced by `_`, so that a
    spec like `tiresias:queues=3` makes a portable file name (`jobs-tiresias_queues_3.csv`)."""
    return f"jobs-{re.sub(r'[^A-Za-z0-9._-]', '_', policy_spec)}.csv"


def _cell(value: float, digits: int) -> str:
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def write_jobs_csv(path: Path, table: JobTable) -> Path:
    columns = [
        table.job_id,
        table.queue_name,
        table.num_gpus.tolist(),
        [_cell(v, 3) for v in table.submit.tolist()],
        [_cell(v, 3) for v in table.first_start.tolist()],
        [_cell(v, 3) for v in table.finish.tolist()],
        [_cell(v, 3) for v in table.jct.tolist()],
        [_cell(v, 3) for v in table.queue.tolist()],
        [_cell(v, 3) for v in table.run.tolist()],
        table.preemptions.tolist(),
        [_cell(v, 4) for v in table.slowdown.tolist()],
        table.status,
    ]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(zip(*columns))
    return path
