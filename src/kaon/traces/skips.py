"""The one shape of a `Trace.skipped` entry, so skips from every reader can be counted and grouped.

Every entry reads `<file>:<line>: <reason>`: a malformed row that `skip_bad` let through keeps its
`TraceFormatError` text (`<file>:<line>: field 'x': ...`), and a well-formed row that is not a GPU
job (a CPU-only pod, a job still running) gets a fixed reason from `note`. `reason_of` recovers a
reason without the per-row values, so `kaon traces inspect` can print "312 x CPU-only pod".
"""

from __future__ import annotations

import re
from pathlib import Path

from kaon.traces.base import RowErrors

_PREFIX = re.compile(r"^.*?:(\d+): ")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_FIELD = re.compile(r"^(field '[^']*'): (.*)$")


def note(errors: RowErrors, path: str | Path, line: int, reason: str) -> None:
    """Record a row that is well-formed but not a job kaon can schedule. Always recorded, whatever
    `skip_bad` says: such rows are expected in real traces, and a caller must still see them."""
    errors.skipped.append(f"{path}:{line}: {reason}")


def reason_of(entry: str) -> str:
    """The entry's reason, without its file and line, and with a bad field's quoted raw value
    elided (`field 'duration': cannot parse …`), so that equal causes group together."""
    reason = _PREFIX.sub("", entry, count=1)
    m = _FIELD.match(reason)
    if m:
        return f"{m.group(1)}: {_QUOTED.sub('…', m.group(2))}"
    return reason
