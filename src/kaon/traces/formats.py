"""Trace formats by name, and `read_trace`, the one entry point every command uses.

Adding a format is adding a reader module and one line in `READERS` (and `SUMMARIES`).
`detect_format` guesses a format from the file's name and header so `--format` is needed only
when the guess is ambiguous: Gavel's headerless `.trace` files by their suffix, the others by the
header columns they require.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kaon.core.job import Trace
from kaon.traces.alibaba import REQUIRED as ALIBABA_COLUMNS
from kaon.traces.alibaba import read_alibaba
from kaon.traces.base import open_text
from kaon.traces.canonical import REQUIRED as CANONICAL_COLUMNS
from kaon.traces.canonical import read_canonical
from kaon.traces.gavel import SUFFIX as GAVEL_SUFFIX
from kaon.traces.gavel import read_gavel
from kaon.traces.philly import REQUIRED as PHILLY_COLUMNS
from kaon.traces.philly import read_philly
from kaon.traces.slurm import REQUIRED as SLURM_COLUMNS
from kaon.traces.slurm import read_slurm
from kaon.traces.tiresias import REQUIRED as TIRESIAS_COLUMNS
from kaon.traces.tiresias import read_tiresias

Reader = Callable[..., Trace]

READERS: dict[str, Reader] = {
    "canonical": read_canonical,
    "philly": read_philly,
    "gavel": read_gavel,
    "tiresias": read_tiresias,
    "alibaba": read_alibaba,
    "slurm": read_slurm,
}

HEADER_SIGNATURES: dict[str, tuple[str, ...]] = {
    "canonical": CANONICAL_COLUMNS,
    "philly": PHILLY_COLUMNS,
    "tiresias": TIRESIAS_COLUMNS,
    "alibaba": ALIBABA_COLUMNS,
    "slurm": SLURM_COLUMNS,
}

SUFFIXES: dict[str, str] = {
    "gavel": GAVEL_SUFFIX,
}

SUMMARIES: dict[str, str] = {
    "canonical": "kaon's own CSV: every job field, seconds or ISO dates",
    "philly": "Microsoft Philly 2017 (ATC'19); no job types",
    "gavel": "Gavel .trace (OSDI'20); job types, length in steps",
    "tiresias": "Tiresias simulator CSV (NSDI'19); model as job type",
    "alibaba": "Alibaba PAI 2023 pod list (ATC'23); CPU-only pods skipped",
    "slurm": "Slurm `sacct --parsable2` export; finished GPU jobs",
}


BUNDLED_TRACES = Path(__file__).resolve().parent.parent / "data" / "traces"


def resolve_trace_path(name: str | Path) -> Path:
    """`name` itself when it exists, else the bundled trace of that file name (so
    `--trace philly-2017-09-10.csv.gz` works from any directory), else `name` (the reader then
    fails naming it)."""
    p = Path(name)
    if not p.exists() and (BUNDLED_TRACES / p.name).exists() and p.name == str(name):
        return BUNDLED_TRACES / p.name
    return p


class UnknownFormatError(ValueError):
    pass


def detect_format(path: str | Path) -> str:
    """The format whose file suffix matches, else whose required header columns all appear in the
    file's first line."""
    path = resolve_trace_path(path)
    suffixes = [s for s in Path(path).suffixes if s != ".gz"]
    by_suffix = [name for name, suffix in SUFFIXES.items() if suffixes and suffixes[-1] == suffix]
    if len(by_suffix) == 1:
        return by_suffix[0]
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
    """Read a trace file (or a bundled trace by file name) in `format`, detected when None."""
    path = resolve_trace_path(path)
    fmt = format or detect_format(path)
    if fmt not in READERS:
        raise UnknownFormatError(f"unknown trace format {fmt!r}; known: {', '.join(READERS)}")
    return READERS[fmt](path, skip_bad=skip_bad)
