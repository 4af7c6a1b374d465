"""The `kaon` entry point: one Typer app, each command group in its own module."""

from __future__ import annotations

import typer

from kaon.cli import admin, anomalies, client, evaluate, learn, policies, predict, run, serve, traces, tune

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="kaon: a learning scheduler for AI workloads on shared, heterogeneous GPU clusters.",
)


@app.callback()
def _root() -> None:
    """kaon: a learning scheduler for AI workloads on shared, heterogeneous GPU clusters."""


policies.register(app)
run.register(app)
traces.register(app)
predict.register(app)
serve.register(app)
client.register(app)
tune.register(app)
learn.register(app)
admin.register(app)
anomalies.register(app)
evaluate.register(app)


def main() -> None:
    app()
