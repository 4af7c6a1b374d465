"""`kaon policies`: the registered policies, one line each, with their parameters."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from kaon.policy.registry import available, parameters


def list_policies() -> None:
    """List every registered policy with a one-line summary and its parameters."""
    table = Table(show_header=True, header_style="bold")
    table.add_column("policy")
    table.add_column("what it does")
    table.add_column("parameters (name=default)")
    for name, cls in available().items():
        params = ", ".join(f"{k}={_default(v.default)}" for k, v in parameters(cls).items())
        table.add_row(name, cls.summary, params)
    Console().print(table)


def _default(value: object) -> str:
    if isinstance(value, tuple):
        return ";".join(str(v) for v in value)
    return str(getattr(value, "value", value))


def register(app: typer.Typer) -> None:
    app.command("policies")(list_policies)
