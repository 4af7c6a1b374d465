"""Trace formats by name, and `read_trace`, the one entry point every command uses.

Adding a format is adding a reader module and one line in `READERS`. `detect_format` guesses a
format from the file's name and header so `--format` is needed only when the guess is ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kaon.core.job import Trace
from kaon.traces.base import open_text
from kaon.traces.philly import REQUIRED as PHILLY_COLUMNS
from kaon.traces.philly import read_philly

Reader = Callable[..., Trace]

READERS: dict[str, Reader] = {
    "philly": read_philly,
}

HEADER_SIGNATURES: dict[str, tuple[str, ...]] = {
    "philly": PHILLY_COLUMNS,
}


class UnknownFormatError(ValueError):
    pass


def detect_format(path: str | Path) -> str:
    """The format whose required header columns all appear in the file's first line."""
    with open_text(path) as f:
        first = f.readline()
    columns = {c.strip() for c in first.replace("|", ",").replace("\t", ",").split(",")}
    matches = [name for name, sig in HEADER_SIGNATURES.items() if set(sig) <= columns]
    if len(matches) == 1:
        return matches[0]
    raise UnknownFormatError(
        f"{path}: cannot tell the trace format from its header; pass --format (one of {', '.join(READERS)})"
    )


def read_trace(path: str | Path, format: str | None = None, *, skip_bad: bool = False) -> Trace:  # noqa: A002
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise UnknownFormatError(f"unknown trace format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, skip_bad=skip_bad)
