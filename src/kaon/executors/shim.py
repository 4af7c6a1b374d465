"""The first process of every locally launched job: runs the command and records how it ended.

Usage: python shim.py STATUS_FILE -- COMMAND...

Why a shim: the service may die (or be killed) while its jobs run. The shim outlives it in the
job's own process group, waits for the command, and writes the exit code, signal, peak RSS and CPU
time to STATUS_FILE, so a restarted service learns how a job ended even though the job was never
its child. It writes the file once at start (proof the job ran) and once at the end, atomically.
It ignores SIGTERM and SIGINT itself: a stop request signals the whole group, the command gets the
signal directly, and the shim stays to record the outcome. A stop that arrives before the command
exists (or while it is being started: a forked child loses the signal at exec) is remembered and
sent to the command once it runs; otherwise a job cancelled in its first instant would run on
until the grace period ends in SIGKILL. Stdlib only, so it starts fast.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time


def _write(path: str, doc: dict) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: shim.py STATUS_FILE -- COMMAND...", file=sys.stderr)
        return 2
    status_path, command = argv[0], argv[2:]
    stops: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stops.append(signum))
    doc: dict = {"started_at": time.time(), "shim_pid": os.getpid()}
    _write(status_path, doc)
    try:
        child = subprocess.Popen(command)
    except OSError as e:
        print(f"kaon: cannot run {command[0]!r}: {e}", file=sys.stderr, flush=True)
        code = 127 if isinstance(e, FileNotFoundError) else 126
        doc.update(ended_at=time.time(), exit_code=code, signal=None, max_rss_kb=None, cpu_s=None)
        _write(status_path, doc)
        return 0
    doc["child_pid"] = child.pid
    for signum in stops[:1]:  # a stop that may have come before the command could receive it
        child.send_signal(signum)
    returncode = child.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc.update(
        ended_at=time.time(),
        exit_code=returncode if returncode >= 0 else None,
        signal=-returncode if returncode < 0 else None,
        max_rss_kb=usage.ru_maxrss,
        cpu_s=usage.ru_utime + usage.ru_stime,
    )
    _write(status_path, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
