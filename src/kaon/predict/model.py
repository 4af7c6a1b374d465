"""`RuntimePredictor`: job duration from what is known at submit time, with an 80 % interval.

Three scikit-learn `HistGradientBoostingRegressor`s on log-duration: squared error for the point
estimate (the exponential of the predicted mean log, i.e. the median if the log-error is
symmetric), and the 0.1 and 0.9 quantile losses for the interval. Log space because durations span
seconds to weeks and a scheduler cares about ratios (an hour against a day), not seconds. The
three are fitted independently, so where they cross the interval is widened to contain the point.
Category codes (queue, user, ...) go in as plain numbers, not as scikit-learn categorical
features: its categorical path re-encodes every input through a `ColumnTransformer`, about 15 ms
per `predict` call, which an online scheduler pays at every decision; queue identity reaches the
model anyway through the per-queue history statistics, a leak-free target encoding.

Boosting runs single-threaded (`threadpoolctl`): on a shared machine OpenMP threads that spin
against other work cost far more than they save, and one thread makes a fit reproducible for a
seed whatever the host.

A saved predictor is a directory: `model.joblib` (the fitted models, the feature schema and the
training jobs, which are the history new jobs are compared against) and `manifest.json` (feature
names, training window, metrics, the sha256 of the training data and of the model file). Loading
unpickles, so load only directories you trust; the manifest's model hash catches a file swapped
or damaged after saving.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from kaon.predict.forest import Forest
from kaon.core.job import JobSpec, Trace
from kaon.predict.features import FeatureSchema, History, JobColumns, history_features

if TYPE_CHECKING:  # scikit-learn and joblib load on first fit/save/load: `kaon --help` stays fast
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import ThreadpoolController

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


class PredictorError(ValueError):
    """A predictor cannot be fitted, loaded or used as asked (too little data, a bad directory)."""


@dataclass(frozen=True, slots=True)
class PredictorConfig:
    """Boosting hyper-parameters. Defaults were chosen on Philly weeks before 2017-10-08 only."""

    max_iter: int = 150
    learning_rate: float = 0.08
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    low_quantile: float = 0.1
    high_quantile: float = 0.9
    seed: int = 0


@dataclass(frozen=True)
class Prediction:
    """Per job, in seconds: point estimate and the [p10, p90] interval (p10 <= estimate <= p90)."""

    estimate: np.ndarray
    p10: np.ndarray
    p90: np.ndarray

    def __len__(self) -> int:
        return len(self.estimate)


@dataclass(frozen=True)
class TrainingInfo:
    jobs: int
    first_submit_s: float
    last_submit_s: float
    epoch: str | None
    sha256: str
    metrics: dict[str, float] = field(default_factory=dict)


def training_sha256(cols: JobColumns, epoch: datetime | None) -> str:
    """A digest of exactly what the model learned from: every job field, in order, and the epoch."""
    h = hashlib.sha256(f"epoch={epoch.isoformat() if epoch else ''}\n".encode())
    for row in zip(
        cols.job_id, cols.submit, cols.duration, cols.num_gpus, cols.queue, cols.user, cols.name,
        cols.job_type, cols.allowed, cols.priority,
    ):  # fmt: skip
        h.update((",".join(map(repr, row)) + "\n").encode())
    return h.hexdigest()


def _jobs(data: Trace | Sequence[JobSpec]) -> tuple[Sequence[JobSpec], datetime | None]:
    if isinstance(data, Trace):
        return data.jobs, data.epoch
    return data, None


class RuntimePredictor:
    """Fit on past jobs, predict new ones. See the module docstring for the model."""

    def __init__(self, config: PredictorConfig | None = None) -> None:
        self.config = config or PredictorConfig()
        self.schema: FeatureSchema | None = None
        self.models: tuple[HistGradientBoostingRegressor, ...] = ()
        self.history: History | None = None
        self.epoch: datetime | None = None
        self.info: TrainingInfo | None = None
        self._forest: Forest | None = None
        """The three models compiled into one forest for small batches (`kaon.predict.forest`),
        built at first use."""

    @property
    def fitted(self) -> bool:
        return bool(self.models)

    # --- fitting ----------------------------------------------------------------------------

    def fit(self, data: Trace | Sequence[JobSpec], history: History | None = None) -> RuntimePredictor:
        """Learn from finished past jobs. Each job's history features come from `history` (default:
        `data` itself), of which only what had finished by the job's submit is used; `history` is
        also kept as the past that later predictions are compared against, so it must hold only
        jobs finished by the end of training (a job still running then has no known duration)."""
        jobs, epoch = _jobs(data)
        jobs = sorted(jobs, key=lambda j: (j.submit_time, j.job_id))
        cols = JobColumns.of(jobs)
        schema = FeatureSchema.learn(cols)
        history = history if history is not None else History.of_trace_jobs(cols)
        hist = history_features(cols, history, schema.groups, schema.k)
        self.fit_features(schema, cols, hist, epoch)
        self.history = history
        self.info = TrainingInfo(
            jobs=len(cols),
            first_submit_s=float(cols.submit[0]),
            last_submit_s=float(cols.submit[-1]),
            epoch=epoch.isoformat() if epoch else None,
            sha256=training_sha256(cols, epoch),
        )
        return self

    def fit_features(
        self, schema: FeatureSchema, cols: JobColumns, hist: np.ndarray, epoch: datetime | None
    ) -> RuntimePredictor:
        """Fit on jobs whose history features were already computed (an online learner keeps the
        features each job had at its arrival, so it trains on exactly what it will predict from)."""
        if len(cols) < 2:
            raise PredictorError(f"need at least 2 finished jobs to fit a predictor, got {len(cols)}")
        self.schema, self.epoch = schema, epoch
        x = schema.matrix(cols, hist, epoch)
        y = np.log(cols.duration)
        c = self.config
        common = dict(
            max_iter=c.max_iter,
            learning_rate=c.learning_rate,
            max_leaf_nodes=c.max_leaf_nodes,
            min_samples_leaf=c.min_samples_leaf,
            l2_regularization=c.l2_regularization,
            early_stopping=False,
            random_state=c.seed,
        )
        specs: list[dict[str, Any]] = [
            {"loss": "squared_error"},
            {"loss": "quantile", "quantile": c.low_quantile},
            {"loss": "quantile", "quantile": c.high_quantile},
        ]
        with _controller().limit(limits=1, user_api="openmp"):
            from sklearn.ensemble import HistGradientBoostingRegressor

            self.models = tuple(HistGradientBoostingRegressor(**common, **s).fit(x, y) for s in specs)
        self._forest = None
        return self

    # --- prediction ---------------------------------------------------------------------------

    def predict(self, data: Trace | Sequence[JobSpec], history: History | None = None) -> Prediction:
        """Predict `data`, in its own order. History (unless given): the training jobs, moved into
        `data`'s time base when both have an epoch (the same base is assumed otherwise), plus those
        of `data`'s own jobs that had finished before each submit."""
        schema = self._schema()
        jobs, epoch = _jobs(data)
        cols = JobColumns.of(jobs)
        if history is None:
            history = self._default_history(cols, epoch)
        hist = history_features(cols, history, schema.groups, schema.k)
        return self.predict_features(cols, hist, epoch if epoch is not None else self.epoch)

    def predict_features(self, cols: JobColumns, hist: np.ndarray, epoch: datetime | None) -> Prediction:
        schema = self._schema()
        if len(cols) == 0:
            empty = np.empty(0)
            return Prediction(empty, empty, empty)
        x = schema.matrix(cols, hist, epoch)
        if self._forest is None:
            self._forest = Forest.of_many(list(self.models))
        point, low, high = self._forest.predict_all(x).T
        low, high = np.minimum(low, point), np.maximum(high, point)
        return Prediction(np.exp(point), np.exp(low), np.exp(high))

    def _schema(self) -> FeatureSchema:
        if self.schema is None or not self.models:
            raise PredictorError("the predictor is not fitted")
        return self.schema

    def _default_history(self, cols: JobColumns, epoch: datetime | None) -> History:
        own = History.of_trace_jobs(cols)
        if self.history is None:
            return own
        shift = (self.epoch - epoch).total_seconds() if self.epoch and epoch else 0.0
        stored = self.history.shifted(shift)
        fresh = ~np.isin(cols.job_id, stored.cols.job_id)
        merged = JobColumns.concat([stored.cols, cols.take(fresh)])
        return History(merged, np.concatenate([stored.finish, own.finish[fresh]]))

    # --- persistence --------------------------------------------------------------------------

    def save(self, directory: str | Path, metrics: dict[str, float] | None = None) -> Path:
        """Write `model.joblib` and `manifest.json` into `directory` (created if missing)."""
        schema = self._schema()
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if self.info is not None and metrics:
            self.info = TrainingInfo(**{**asdict(self.info), "metrics": dict(metrics)})
        payload = {"version": FORMAT_VERSION, "config": self.config, "schema": schema, "models": self.models,
                   "history": self.history, "epoch": self.epoch, "info": self.info}  # fmt: skip
        model_path = out / MODEL_FILE
        import joblib

        joblib.dump(payload, model_path, compress=3)
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": "sklearn HistGradientBoostingRegressor on log-duration (point, p10, p90)",
            "features": list(schema.names),
            "categorical": list(schema.categorical),
            "history_groups": [g.name for g in schema.groups],
            "window_k": schema.k,
            "config": asdict(self.config),
            "training": asdict(self.info) if self.info else None,
            "model_sha256": _file_sha256(model_path),
        }
        (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | Path) -> RuntimePredictor:
        d = Path(directory)
        manifest_path, model_path = d / MANIFEST_FILE, d / MODEL_FILE
        for p in (manifest_path, model_path):
            if not p.is_file():
                raise PredictorError(f"{d}: not a saved predictor (missing {p.name})")
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise PredictorError(f"{manifest_path}: invalid JSON: {e}") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise PredictorError(f"{manifest_path}: format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
        if manifest.get("model_sha256") != _file_sha256(model_path):
            raise PredictorError(f"{model_path}: sha256 does not match {manifest_path.name}; the model file changed")
        import joblib

        payload = joblib.load(model_path)
        out = cls(payload["config"])
        out.schema, out.models, out.history = payload["schema"], payload["models"], payload["history"]
        out.epoch, out.info = payload["epoch"], payload["info"]
        return out


@cache
def _controller() -> ThreadpoolController:
    """Found once: discovering the loaded thread pools takes tens of milliseconds, limiting them
    with a known controller a tenth of one, and an online scheduler predicts at every decision."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
