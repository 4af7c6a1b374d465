"""The console every table-printing command uses."""

from __future__ import annotations

from rich.console import Console


def report_console() -> Console:
    """The terminal's width, or 120 columns when output is piped or captured (rich would otherwise
    assume 80 and truncate wide tables)."""
    console = Console()
    return console if console.is_terminal else Console(width=120)
