"""`kaon anomalies`: the server's current anomaly flags (operator and admin tokens)."""

from __future__ import annotations

import json

import typer

from kaon.cli.client import AsJson, Server, Token, _client_call
from kaon.service.client import KaonClient


@_client_call
def anomalies(server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Jobs and users the server flags: overruns, submission bursts, memory over-requests, failure
    streaks. Each flag is also written once to the audit log."""
    with KaonClient(server, token) as client:
        flags = client.anomalies()
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in flags], indent=2, sort_keys=True))
        return
    if not flags:
        typer.echo("no anomalies")
        return
    for a in flags:
        typer.echo(f"{a.kind:<13} {a.subject:<16} score {a.score:>8.1f}  {a.message}")


def register(app: typer.Typer) -> None:
    app.command("anomalies")(anomalies)
