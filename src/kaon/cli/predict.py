"""`kaon predict evaluate` and `kaon predict fit`: measure and save the job runtime predictor.

Both read a trace (a path or a bundled trace's file name), train at `--until` on the jobs finished
by then (optionally only those submitted from `--since`); `evaluate` scores the model against
simple baselines on the jobs submitted from `--until` to `--end`, `fit` saves it for `qssf:model=DIR`
or `psrtf:model=DIR`. Bad input ends with one `error:` line and exit code 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from kaon.core.job import Trace
from kaon.predict.evaluate import DEFAULT_CUTOFF, Evaluation, evaluate, fit_until
from kaon.predict.model import PredictorConfig, PredictorError
from kaon.traces.base import TraceFormatError
from kaon.traces.formats import UnknownFormatError, read_trace
from kaon.traces.scenario import parse_instant

EXIT_BAD_INPUT = 2
DEFAULT_CONFIG = PredictorConfig()

predict_app = typer.Typer(no_args_is_help=True, help="Job runtime prediction: evaluate and fit the predictor.")

TraceOpt = Annotated[str, typer.Option("--trace", help="trace file, or the file name of a bundled trace")]
UntilOpt = Annotated[
    str, typer.Option("--until", help="train on jobs finished by this instant (ISO date or seconds)")
]
SinceOpt = Annotated[str | None, typer.Option("--since", help="train only on jobs submitted from here")]
FormatOpt = Annotated[str | None, typer.Option("--format", help="trace format (default: detected)")]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed of the boosting models")]
IterOpt = Annotated[int, typer.Option("--max-iter", min=1, help="boosting iterations per model")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _trace(name: str, fmt: str | None) -> Trace:
    try:
        return read_trace(name, fmt)
    except (TraceFormatError, UnknownFormatError, FileNotFoundError, ValueError) as e:
        _fail(str(e))


def _db_trace(url: str, key_file: Path | None, path: Path) -> Trace:
    from sqlalchemy.exc import SQLAlchemyError

    from kaon.service.retrain import history_cipher, history_from_db

    try:
        tr = history_from_db(url, path, history_cipher(key_file))
    except (SQLAlchemyError, ValueError, OSError) as e:
        _fail(f"{url}: cannot export the history: {e}")
    if len(tr) == 0:
        _fail(f"{url}: no completed jobs to fit on")
    return tr


def _instant(value: str | None, trace: Trace, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_instant(value, trace)
    except ValueError as e:
        _fail(f"{option}: {e}")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def evaluation_table(ev: Evaluation) -> Table:
    title = f"train: {ev.train_jobs} jobs finished by {ev.cutoff or ev.cutoff_s}; test: {ev.test_jobs} jobs"
    table = Table(title=title, show_header=True, header_style="bold")
    for col in ("predictor", "MAE log", "Spearman", "Spearman GPU-time", "in [p10,p90]", "below est."):
        table.add_column(col, justify="left" if col == "predictor" else "right")
    for s in ev.scores:
        table.add_row(
            s.predictor, _num(s.mae_log), _num(s.spearman), _num(s.spearman_gpu_time),
            _num(s.coverage), _num(s.below_estimate),
        )  # fmt: skip
    return table


@predict_app.command("evaluate")
def evaluate_command(
    trace: TraceOpt,
    until: UntilOpt = DEFAULT_CUTOFF,
    since: SinceOpt = None,
    end: Annotated[str | None, typer.Option("--end", help="test on jobs submitted before this")] = None,
    format: FormatOpt = None,  # noqa: A002 - the option's name
    seed: SeedOpt = 0,
    max_iter: IterOpt = DEFAULT_CONFIG.max_iter,
    as_json: Annotated[bool, typer.Option("--json", help="print the scores as JSON")] = False,
) -> None:
    """Train at --until, test on later jobs: the model against queue median, last similar job and
    global median (MAE of log-duration, rank correlation, calibration of the [p10, p90] interval)."""
    tr = _trace(trace, format)
    cutoff = _instant(until, tr, "--until")
    assert cutoff is not None
    config = PredictorConfig(max_iter=max_iter, seed=seed)
    try:
        ev, _ = evaluate(
            tr, cutoff, train_start_s=_instant(since, tr, "--since"), end_s=_instant(end, tr, "--end"), config=config
        )
    except PredictorError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(ev.to_dict(), indent=2))
    else:
        Console().print(evaluation_table(ev))


@predict_app.command("fit")
def fit_command(
    out: Annotated[Path, typer.Option("--out", help="directory to save the predictor in")],
    trace: Annotated[str | None, typer.Option("--trace", help="trace file, or the file name of a bundled trace")] = None,
    from_db: Annotated[
        str | None, typer.Option("--from-db", help="fit on the completed jobs of a `kaon serve` database (URL)")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key-file", help="with --from-db: the service's key (else KAON_SECRET_KEY)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help=f"train on jobs finished by this instant (default {DEFAULT_CUTOFF}; with --from-db: all)")
    ] = None,
    since: SinceOpt = None,
    format: FormatOpt = None,  # noqa: A002 - the option's name
    seed: SeedOpt = 0,
    max_iter: IterOpt = DEFAULT_CONFIG.max_iter,
) -> None:
    """Train at --until on the jobs finished by then and save the predictor to --out. With
    --from-db, the history is exported to OUT/history.csv first (a canonical trace)."""
    if (trace is None) == (from_db is None):
        _fail("give exactly one of --trace and --from-db")
    if from_db is not None:
        from kaon.service.retrain import end_of_history

        tr = _db_trace(from_db, key_file, out / "history.csv")
        until = until or f"{end_of_history(tr):.0f}"
    else:
        assert trace is not None
        tr = _trace(trace, format)
    cutoff = _instant(until or DEFAULT_CUTOFF, tr, "--until")
    assert cutoff is not None
    try:
        predictor = fit_until(tr, cutoff, _instant(since, tr, "--since"), PredictorConfig(max_iter=max_iter, seed=seed))
        predictor.save(out)
    except PredictorError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{out}: cannot write the predictor: {e}")
    jobs = predictor.info.jobs if predictor.info else 0
    typer.echo(f"saved a predictor trained on {jobs} jobs to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")
