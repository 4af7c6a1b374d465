"""`kaon serve`: run the scheduling service (REST API + scheduling loop) on this host."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from kaon.executors.inventory import InventoryError
from kaon.policy.base import PolicyParamError
from kaon.store.migrations import MigrationError


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8265,
    db: Annotated[str | None, typer.Option("--db", help="database URL (default: SQLite in the data dir)")] = None,
    policy: Annotated[str | None, typer.Option(help="policy spec, e.g. fifo or tiresias:thresholds=3600")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPUs to schedule when NVML is absent (with --gpu-type)")] = None,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="type of the --gpus GPUs, e.g. v100")] = None,
    cluster: Annotated[str | None, typer.Option(help="cluster YAML or bundled cluster name")] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="job logs and executor state")] = None,
    grace: Annotated[float | None, typer.Option(help="seconds between SIGTERM and SIGKILL")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Serve the REST API (docs at /docs) and schedule jobs. SIGHUP reloads the policy."""
    import uvicorn

    from kaon.service.app import create_app
    from kaon.service.settings import ServiceSettings

    given: dict[str, Any] = {
        "db_url": db,
        "policy": policy,
        "gpus": gpus,
        "gpu_type": gpu_type,
        "cluster": cluster,
        "state_dir": state_dir,
        "grace_s": grace,
    }
    try:
        app = create_app(ServiceSettings(**{k: v for k, v in given.items() if v is not None}))
    except (InventoryError, PolicyParamError, MigrationError) as e:
        typer.echo(f"kaon serve: {e}", err=True)
        raise typer.Exit(2) from None
    loop = app.state.service.loop
    signal.signal(signal.SIGHUP, lambda *_: loop.request_reload())
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
