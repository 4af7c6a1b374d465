"""`python -m kaon.service serve ...` (and the client verbs): the service without the full CLI."""

from __future__ import annotations

import typer

from kaon.cli import client, serve

app = typer.Typer(no_args_is_help=True, add_completion=False)
serve.register(app)
client.register(app)

if __name__ == "__main__":
    app()
