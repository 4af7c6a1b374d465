"""A submission's store transaction, prepared (`kaon.store.prepared`) against plain Core, side by side.

Times `JobStore.add_jobs` of one job with its audit record, on a temporary SQLite database with
secrets sealed (as `kaon serve` runs it), in alternating blocks: once with every `Prepared`
statement on SQLite's cursor (what the store does) and once through `Connection.execute` (the
same statements, `Prepared.rows_via_core`). Reports the median CPU per submission of each and
their ratio: this machine is shared, so the ratio from one run is the number to read.

    .venv/bin/python bench/store_statements.py [--jobs 2000] [--blocks 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from common import write_result
from sqlalchemy import Connection

from kaon.security.audit import AuditEntry, AuditLog
from kaon.security.crypto import Cipher
from kaon.store.prepared import Prepared
from kaon.store.records import JobRecord, NewJob
from kaon.store.repo import JobStore

JOB = NewJob(command=("python", "-c", "print(1)"), gpus=4, time_limit_s=3600.0, env=(("SEED", "1"),))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000, help="submissions per block")
    ap.add_argument("--blocks", type=int, default=5, help="blocks per path, alternated")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cipher = Cipher(base64.urlsafe_b64encode(os.urandom(32)).decode())
        store = JobStore.open(f"sqlite:///{Path(tmp) / 'kaon.db'}", cipher)
        audit = AuditLog(store.engine)

        def also(conn: Connection, records: Sequence[JobRecord]) -> None:
            entries = [AuditEntry("bench", "submit", f"job {r.id}", "API request", {"queue": r.queue, "gpus": r.gpus}) for r in records]
            audit.write(conn, entries)

        def block() -> float:
            start = time.process_time()
            for _ in range(args.jobs):
                store.add_jobs([JOB], time.time(), Path(tmp), also=also)
            return (time.process_time() - start) / args.jobs

        cursor_rows = Prepared.rows
        paths = {"prepared": cursor_rows, "core": Prepared.rows_via_core}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        block()  # warm-up: compile, caches, page cache
        for _ in range(args.blocks):
            for name, rows in paths.items():
                Prepared.rows = rows  # type: ignore[method-assign]
                cpu[name].append(block())
        Prepared.rows = cursor_rows  # type: ignore[method-assign]
        store.close()
    median = {name: statistics.median(v) for name, v in cpu.items()}
    result = {
        "jobs_per_block": args.jobs,
        "blocks": args.blocks,
        "cpu_us_per_submission": {name: [round(x * 1e6, 1) for x in v] for name, v in cpu.items()},
        "median_us": {name: round(v * 1e6, 1) for name, v in median.items()},
        "core_over_prepared": round(median["core"] / median["prepared"], 2),
    }
    print(result)
    print(f"wrote {write_result('store_statements', result)}")


if __name__ == "__main__":
    main()
