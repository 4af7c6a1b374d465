"""What every trace reader shares: the error that names file, line and field, and bad-row policy.

A reader either fails on the first malformed row with a `TraceFormatError`, or, with
`skip_bad=True`, skips such rows and records each skip with its reason in `Trace.skipped`, so a
caller can always report how many rows were dropped and why. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class TraceFormatError(ValueError):
    """A trace row cannot be read. `str()` names the file, the line and the field."""

    def __init__(self, path: str | Path, line: int, field_name: str, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.field = field_name
        self.reason = reason
        super().__init__(f"{path}:{line}: field {field_name!r}: {reason}")


@dataclass
class RowErrors:
    """Collects skipped rows when `skip_bad` is on; re-raises otherwise."""

    skip_bad: bool
    skipped: list[str] = field(default_factory=list)

    def handle(self, error: TraceFormatError) -> None:
        if not self.skip_bad:
            raise error
        self.skipped.append(str(error))


def parse_field(path: str | Path, line: int, name: str, raw: str | None, convert: Callable[[str], T]) -> T:
    """`convert(raw)`, or a `TraceFormatError` naming where and why."""
    if raw is None or raw.strip() == "":
        raise TraceFormatError(path, line, name, "missing value")
    try:
        return convert(raw.strip())
    except (ValueError, TypeError) as e:
        raise TraceFormatError(path, line, name, f"cannot parse {raw!r}: {e}") from None


def positive(x: float) -> float:
    if not x > 0:
        raise ValueError("must be > 0")
    return x


def positive_int(raw: str) -> int:
    value = float(raw)
    if value != int(value) or value < 1:
        raise ValueError("must be a whole number >= 1")
    return int(value)


def positive_float(raw: str) -> float:
    return positive(float(raw))


def open_text(path: str | Path):  # noqa: ANN201 - a text file object
    """Open a trace for reading as text; `.gz` files are decompressed on the fly."""
    import gzip

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such trace file")
    if p.suffix == ".gz":
        return gzip.open(p, "rt", newline="")
    return p.open(newline="")


def csv_rows(f, path: str | Path, required: tuple[str, ...]) -> csv.DictReader:  # noqa: ANN001 - a text file
    """A `csv.DictReader` over `f` whose header has every `required` column, else an error naming
    the first missing one (line 1). `reader.line_num` gives each row's line for error messages."""
    reader = csv.DictReader(f)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise TraceFormatError(path, 1, missing[0], f"header lacks column(s) {missing}")
    return reader
