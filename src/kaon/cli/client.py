"""Client verbs for a running `kaon serve`: submit, queue, show, cancel, explain, logs, nodes
(and nodes drain/undrain), history. Each takes `--server` and `--token` (else KAON_SERVER / KAON_TOKEN, else the config file) and `--json`."""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.table import Table

from kaon.cli.console import report_console
from kaon.service.client import ClientError, KaonClient
from kaon.service.schemas import JobCreate, JobRead
from kaon.store.records import JobPhase

Server = Annotated[str | None, typer.Option("--server", help="server URL (else KAON_SERVER, else config file)")]
Token = Annotated[str | None, typer.Option("--token", help="API token (else KAON_TOKEN, else config file)")]
AsJson = Annotated[bool, typer.Option("--json", help="print the server's JSON")]

FINISHED = (JobPhase.COMPLETED, JobPhase.FAILED, JobPhase.CANCELLED, JobPhase.TIMEOUT)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '2h', '1h30m', '1d', or '[[H:]M:]S' -> seconds."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        seconds = float(raw)
    elif re.fullmatch(r"(\d+:){1,2}\d+", raw):
        seconds = 0.0
        for part in raw.split(":"):
            seconds = seconds * 60 + int(part)
    elif re.fullmatch(r"(\d+(\.\d+)?[smhd])+", raw):
        seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smhd])", raw))
    else:
        raise typer.BadParameter(f"cannot read {text!r} as a duration (e.g. 90, 30m, 2h, 1h30m, 01:30:00)")
    if seconds <= 0:
        raise typer.BadParameter(f"duration {text!r} must be > 0")
    return seconds


def _client_call(fn: Callable[..., None]) -> Callable[..., None]:
    """Turn unreachable servers and refused requests into one clear line and exit code 1."""

    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except ClientError as e:
            typer.echo(f"kaon: {e}", err=True)
            raise typer.Exit(1) from None

    return run


def _print_json(doc: BaseModel | Sequence[BaseModel]) -> None:
    """The server's JSON, as the model read it."""
    data = doc.model_dump(mode="json") if isinstance(doc, BaseModel) else [d.model_dump(mode="json") for d in doc]
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts is not None else "-"


def _jobs_table(items: Sequence[JobRead], title: str) -> None:
    table = Table(title=title, show_header=True, header_style="bold")
    for col in ("id", "name", "user", "queue", "state", "gpus", "types", "where", "submitted", "started", "exit"):
        table.add_column(col)
    for j in items:
        grant = j.grant
        where = f"{','.join(grant.nodes)}:{','.join(map(str, grant.devices))}" if grant else "-"
        code = j.exit_code if j.exit_code is not None else (f"sig {j.signal}" if j.signal else "-")
        table.add_row(
            str(j.id),
            j.name or "-",
            j.user or "-",
            j.queue,
            j.state.value,
            str(j.gpus),
            ",".join(j.gpu_types or ["any"]),
            where,
            _when(j.submit_time),
            _when(j.start_time),
            str(code),
        )
    report_console().print(table)


@_client_call
def submit(
    command: Annotated[list[str], typer.Argument(help="the command, after --")],
    gpus: Annotated[int, typer.Option(help="GPUs the job needs")] = 1,
    gpu_type: Annotated[str | None, typer.Option("--gpu-type", help="allowed GPU types, e.g. V100,A100")] = None,
    time_limit: Annotated[str | None, typer.Option("--time", help="time limit, e.g. 30m, 2h, 01:30:00")] = None,
    priority: Annotated[int, typer.Option(help="higher runs first and may preempt lower (docs/SERVICE.md)")] = 0,
    queue: Annotated[str, typer.Option(help="queue name")] = "default",
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE, repeatable")] = None,
    retries: Annotated[int, typer.Option(help="extra attempts after a failure")] = 0,
    kind: Annotated[str, typer.Option(help="training or inference")] = "training",
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Submit a job: kaon submit --gpus 2 --time 2h -- python train.py"""
    pairs = {}
    for item in env or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"--env {item!r} must be KEY=VALUE")
        pairs[key] = value
    body: dict[str, Any] = {
        "command": command,
        "gpus": gpus,
        "priority": priority,
        "queue": queue,
        "name": name,
        "env": pairs,
        "retries": retries,
        "kind": kind,
        "user": getpass.getuser(),
        "cwd": os.getcwd(),
    }
    if gpu_type:
        body["gpu_types"] = [t.strip() for t in gpu_type.split(",") if t.strip()]
    if time_limit:
        body["time_limit_s"] = parse_duration(time_limit)
    try:
        request = JobCreate(**body)
    except ValidationError as e:
        raise typer.BadParameter("; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())) from None
    with KaonClient(server, token) as c:
        job = c.submit(request)
    if as_json:
        _print_json(job)
    else:
        typer.echo(f"submitted job {job.id}")


@_client_call
def queue(
    queue_name: Annotated[str | None, typer.Option("--queue", help="only this queue")] = None,
    user: Annotated[str | None, typer.Option(help="only this user's jobs")] = None,
    limit: Annotated[int, typer.Option(help="at most this many jobs")] = 1000,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Pending and running jobs, in submission order."""
    with KaonClient(server, token) as c:
        page = c.jobs([JobPhase.PENDING, JobPhase.RUNNING], limit=limit, queue=queue_name, user=user)
    if as_json:
        _print_json(page)
    else:
        _jobs_table(page.items, f"{page.total} active jobs")


@_client_call
def history(
    limit: Annotated[int, typer.Option(help="at most this many jobs, newest first")] = 100,
    user: Annotated[str | None, typer.Option(help="only this user's jobs")] = None,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Finished jobs (completed, failed, cancelled, timed out), newest first."""
    with KaonClient(server, token) as c:
        page = c.jobs(FINISHED, limit=limit, user=user, newest_first=True)
    if as_json:
        _print_json(page)
    else:
        _jobs_table(page.items, f"{page.total} finished jobs")


@_client_call
def show(job_id: int, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Everything the server knows about one job."""
    with KaonClient(server, token) as c:
        job = c.job(job_id)
    if as_json:
        _print_json(job)
        return
    for key, value in job.model_dump(mode="json").items():
        if key.endswith("_time") and value is not None:
            value = f"{_when(value)} ({value})"
        typer.echo(f"{key:>13}: {value}")


@_client_call
def cancel(job_id: int, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Cancel a job: dropped from the queue, or SIGTERM then SIGKILL if running."""
    with KaonClient(server, token) as c:
        before = c.job(job_id).state
        job = c.cancel(job_id)
    if as_json:
        _print_json(job)
    elif before not in (JobPhase.PENDING, JobPhase.RUNNING):
        typer.echo(f"job {job_id} already ended: {job.state.value}")
    elif job.state is JobPhase.CANCELLED:
        typer.echo(f"job {job_id} cancelled")
    elif job.state is JobPhase.RUNNING:
        typer.echo(f"job {job_id} is being stopped")
    else:
        typer.echo(f"job {job_id} already ended: {job.state.value}")


@_client_call
def explain(
    job_id: Annotated[int | None, typer.Argument(help="a service job; leave out with --model")] = None,
    model: Annotated[Path | None, typer.Option("--model", help="explain a learned decision: model directory from `kaon train`")] = None,
    trace: Annotated[str | None, typer.Option("--trace", help="with --model: trace file, or a bundled trace's file name")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="with --model: cluster spec YAML, or a bundled cluster name")] = None,
    at: Annotated[str | None, typer.Option("--at", help="with --model: the first learned start at or after this instant")] = None,
    format: Annotated[str | None, typer.Option("--format", help="with --model: trace format (default: detected)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="with --model: seed of the trace's job types")] = 0,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """Why a job is (still) pending: free GPUs per type, queue position, predicted start. With
    --model: replay TRACE under a learned model and print the features behind its first start at
    or after --at."""
    if model is not None:
        from kaon.cli.learn import explain_learned

        missing = [flag for flag, v in (("--trace", trace), ("--cluster", cluster), ("--at", at)) if v is None]
        if job_id is not None or missing:
            typer.echo(f"kaon explain: --model explains a replay, not a job id; it needs {', '.join(missing) or 'no job id'}", err=True)
            raise typer.Exit(2)
        explain_learned(model, trace, cluster, at, format, seed)  # type: ignore[arg-type]
        return
    if job_id is None:
        typer.echo("kaon explain: give a job id (a service job) or --model DIR --trace T --cluster C --at A (a learned decision)", err=True)
        raise typer.Exit(2)
    with KaonClient(server, token) as c:
        why = c.explain(job_id)
    if as_json:
        _print_json(why)
        return
    typer.echo(f"job {job_id} {why.state.value}: {why.message}")
    if why.queue_position is not None:
        typer.echo(f"  queue position {why.queue_position} of {why.queue_length}")
    for r in why.reasons:
        typer.echo(f"  {r.message}")
    if why.predicted_start is not None:
        typer.echo(f"  earliest start if running jobs use their whole time limit: {_when(why.predicted_start)}")


@_client_call
def logs(
    job_id: int,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until the job ends")] = False,
    server: Server = None,
    token: Token = None,
    as_json: AsJson = False,
) -> None:
    """A job's stdout and stderr."""
    offset = 0
    with KaonClient(server, token) as c:
        while True:
            chunk = c.logs(job_id, offset)
            if as_json:
                _print_json(chunk)
            else:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            offset = chunk.next_offset
            if not follow or chunk.complete:
                return
            if not chunk.text:
                time.sleep(0.5)


nodes_app = typer.Typer(
    help="The GPUs the service schedules (no sub-command: list them); drain or undrain a node.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@nodes_app.callback()
def nodes(ctx: typer.Context, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """The GPUs the service schedules, and which are free. --server/--token here also serve the
    sub-command."""
    ctx.obj = (server, token)
    if ctx.invoked_subcommand is None:
        _list_nodes(server, token, as_json)


@_client_call
def _list_nodes(server: str | None, token: str | None, as_json: bool) -> None:
    with KaonClient(server, token) as c:
        items = c.nodes()
    if as_json:
        _print_json(items)
        return
    table = Table(show_header=True, header_style="bold")
    for col in ("node", "type", "gpus", "free", "free devices", "up", "drained"):
        table.add_column(col)
    for n in items:
        table.add_row(
            n.name, n.gpu_type, str(n.gpus), str(len(n.free_devices)),
            ",".join(map(str, n.free_devices)) or "-", "yes" if n.up else "no", "yes" if n.drained else "no",
        )  # fmt: skip
    report_console().print(table)


NodeName = Annotated[str, typer.Argument(help="the node's name, as `kaon nodes` lists it")]


@nodes_app.command("drain")
def drain(ctx: typer.Context, name: NodeName, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Give NAME no new jobs; the jobs running there finish (operator or admin)."""
    _drain(ctx, name, True, server, token, as_json)


@nodes_app.command("undrain")
def undrain(ctx: typer.Context, name: NodeName, server: Server = None, token: Token = None, as_json: AsJson = False) -> None:
    """Let NAME take jobs again (operator or admin)."""
    _drain(ctx, name, False, server, token, as_json)


@_client_call
def _drain(ctx: typer.Context, name: str, drained: bool, server: str | None, token: str | None, as_json: bool) -> None:
    parent_server, parent_token = ctx.obj or (None, None)
    with KaonClient(server or parent_server, token or parent_token) as c:
        node = c.drain(name, drained)
    if as_json:
        _print_json(node)
    else:
        typer.echo(f"node {node.name}: {'drained' if node.drained else 'taking jobs'}")


def register(app: typer.Typer) -> None:
    app.command("submit", context_settings={"allow_interspersed_args": False})(submit)
    for name, fn in (
        ("queue", queue),
        ("history", history),
        ("show", show),
        ("cancel", cancel),
        ("explain", explain),
        ("logs", logs),
    ):
        app.command(name)(fn)
    app.add_typer(nodes_app, name="nodes")
