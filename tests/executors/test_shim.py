"""The shim: a stop that reaches the job's process group at any instant of its start-up ends the
command promptly, with SIGTERM, instead of leaving it running until the grace period's SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kaon.executors import shim


def test_a_stop_during_start_up_reaches_the_command(tmp_path: Path) -> None:
    # The delays sweep the shim's start-up in 2 ms steps: before its handlers exist, between them
    # and the command's start (where the stop used to be lost: on the development machine at
    # 34-50 ms, 4 of 80 delays), and after the command runs.
    for i, delay in enumerate(d / 1000 for d in range(0, 100, 2)):
        status = tmp_path / f"status-{i}.json"
        p = subprocess.Popen(
            [sys.executable, "-I", "-S", shim.__file__, str(status), "--", "sleep", "30"], start_new_session=True
        )
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            raise AssertionError(f"the command outlived a SIGTERM sent {delay} s after launch") from None
        if status.exists() and "ended_at" in (doc := json.loads(status.read_text())):
            assert doc["signal"] == signal.SIGTERM, (delay, doc)
