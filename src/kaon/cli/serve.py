"""`kaon serve`: run the scheduling service (REST API + scheduling loop) on this host."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from kaon.cli.client import parse_duration
from kaon.executors.inventory import InventoryError
from kaon.policy.base import PolicyParamError
from kaon.security.auth import AuthError, is_loopback
from kaon.security.crypto import SecretKeyError
from kaon.store.db import DatabaseUrlError
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
    dev_no_auth: Annotated[
        bool, typer.Option("--dev-no-auth", help="no authentication, everyone is admin (loopback addresses only)")
    ] = False,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM); with --tls-key")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS private key (PEM)")] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="AES key for job secrets at rest (else KAON_SECRET_KEY)")
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model-dir", help="versioned predictors from retraining; the policy names {model}, e.g. qssf:model={model}"),
    ] = None,
    retrain_every: Annotated[
        str | None, typer.Option("--retrain-every", help="refit the predictor from history this often, e.g. 1h (with --model-dir)")
    ] = None,
    retrain_min_jobs: Annotated[
        int | None, typer.Option("--retrain-min-jobs", min=2, help="new completed jobs a retraining needs (default 50)")
    ] = None,
    quotas: Annotated[
        Path | None, typer.Option("--quotas", help="queues' fair-share quotas per GPU type (YAML, docs/QUOTAS.md)")
    ] = None,
    hold_anomalous: Annotated[
        bool,
        typer.Option("--hold-anomalous", help="hold anomalous jobs until `kaon admin release ID` (docs/SECURITY.md)"),
    ] = False,
) -> None:
    """Serve the REST API (docs at /docs) and schedule jobs. SIGHUP reloads the policy.

    API tokens are required (`kaon admin token create`); `--dev-no-auth` lifts that on a loopback
    address only."""
    import uvicorn

    from kaon.service.app import create_app
    from kaon.quota.quotas import QuotaError
    from kaon.service.settings import ServiceSettings

    if (tls_cert is None) != (tls_key is None):
        typer.echo("kaon serve: give both --tls-cert and --tls-key, or neither", err=True)
        raise typer.Exit(2)
    if retrain_every is not None and model_dir is None:
        typer.echo("kaon serve: --retrain-every needs --model-dir (where model versions are written)", err=True)
        raise typer.Exit(2)
    given: dict[str, Any] = {
        "db_url": db,
        "policy": policy,
        "gpus": gpus,
        "gpu_type": gpu_type,
        "cluster": cluster,
        "state_dir": state_dir,
        "grace_s": grace,
        "dev_no_auth": dev_no_auth or None,
        "key_file": key_file,
        "model_dir": model_dir,
        "retrain_every_s": parse_duration(retrain_every) if retrain_every is not None else None,
        "retrain_min_jobs": retrain_min_jobs,
        "quotas": quotas,
        "hold_anomalous": hold_anomalous or None,
    }
    try:
        settings = ServiceSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        typer.echo(f"kaon serve: {settings_error(e)}", err=True)
        raise typer.Exit(2) from None
    # The resolved setting, not the flag: KAON_DEV_NO_AUTH=1 must not open a public address either.
    if settings.dev_no_auth and not is_loopback(host):
        typer.echo(
            f"kaon serve: no-auth mode (--dev-no-auth or KAON_DEV_NO_AUTH) is refused on {host}: "
            "it is allowed on a loopback address only",
            err=True,
        )
        raise typer.Exit(2)
    try:
        app = create_app(settings)
    except (InventoryError, PolicyParamError, MigrationError, SecretKeyError, AuthError, QuotaError, DatabaseUrlError) as e:
        typer.echo(f"kaon serve: {e}", err=True)
        raise typer.Exit(2) from None
    loop = app.state.service.loop
    signal.signal(signal.SIGHUP, lambda *_: loop.request_reload())
    tls = {"ssl_certfile": str(tls_cert), "ssl_keyfile": str(tls_key)} if tls_cert and tls_key else {}
    uvicorn.run(app, host=host, port=port, log_level=log_level, **tls)


def settings_error(error: ValidationError) -> str:
    """One line per invalid setting, named as its KAON_ environment variable (the flag of the same
    name, with dashes, sets it too)."""
    return "; ".join(
        f"setting {'.'.join(map(str, e['loc']))} (KAON_{str(e['loc'][0]).upper()}): {e['msg']}, got {e.get('input')!r}"
        for e in error.errors()
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
