"""Retraining the runtime predictor from the service's own history, and swapping it in live.

A predictor fitted once goes stale as the workload drifts; the service already records the ground
truth (every COMPLETED job's measured run time, `kaon.store.history`). The `Retrainer` closes that
loop: on a timer (`--retrain-every`) or on request (`POST /api/v1/admin/retrain`) it counts the
completed jobs, and when at least `min_new_jobs` finished since the model in use was fitted, it
exports the history, fits a `RuntimePredictor` on it, saves it to the next versioned directory
under `--model-dir` (`v0001`, `v0002`, ...) and asks the scheduling loop to reload the policy with
the new model. The reload is the loop's ordinary one (the same as SIGHUP): a fresh policy brought
up to date by replaying the hooks of the jobs in the system, so no pending job is lost and no
running job is started again.

Fitting runs on the retrainer's thread, never the loop's: scheduling goes on while a model trains,
and only the swap (loading the saved model) happens inside the loop. A version directory is
written under a temporary name and renamed into place, so a crash mid-save leaves no half model
that a restart could pick as the latest.

The policy spec is a template: `{model}` in it is replaced by the model directory (e.g.
`qssf:model={model}`); without `{model}`, the policy's `model=` parameter is set (added or
replaced). Until a first model exists, the parameter holding `{model}` is left out, so the policy
runs on its own default (`qssf` and `psrtf` then learn online from the jobs they see finish).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kaon.core.job import Trace
from kaon.policy.base import PolicyParamError
from kaon.policy.registry import available, parameters
from kaon.predict.model import MANIFEST_FILE, PredictorConfig, RuntimePredictor
from kaon.security.audit import AuditLog
from kaon.security.crypto import KEY_ENV, Cipher
from kaon.service.settings import ServiceSettings
from kaon.store.history import export_history, history_trace
from kaon.store.records import JobPhase
from kaon.store.repo import JobStore
from kaon.traces.canonical import write_canonical
from kaon.traces.formats import read_trace

log = logging.getLogger(__name__)

PLACEHOLDER = "{model}"
HISTORY_FILE = "history.csv"
"""The exported history a version was fitted on, kept next to it: what the model learned from."""
RETRAINER = "retrainer"
"""The audit actor of scheduled and requested model swaps."""
_VERSION = re.compile(r"v(\d{4,})")


def history_from_db(url: str | None, path: Path, cipher: Cipher | None = None) -> Trace:
    """The finished jobs of the service database at `url`, written to `path` as canonical CSV and
    read back: exactly the trace `kaon train`, `kaon predict fit` and the simulator read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    export_history(url, path, cipher)
    return read_trace(path, "canonical")


def history_cipher(key_file: Path | None) -> Cipher | None:
    """The key that opens sealed job rows for an export: `key_file`, else KAON_SECRET_KEY, else
    none (then only a database whose rows are plaintext can be read)."""
    if key_file is not None:
        return Cipher.from_file(key_file)
    key = os.environ.get(KEY_ENV)
    return Cipher(key, KEY_ENV) if key else None


def end_of_history(trace: Trace) -> float:
    """An instant after every job of `trace` finished: train on all of it."""
    return max((j.submit_time + j.duration for j in trace.jobs), default=0.0) + 1.0


# --- model versions and policy specs ----------------------------------------------------------


def versions(model_dir: Path) -> list[Path]:
    """Saved versions under `model_dir`, oldest first (temporary directories are not versions)."""
    if not model_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in model_dir.iterdir() if p.is_dir() and (m := _VERSION.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def latest_version(model_dir: Path) -> Path | None:
    found = versions(model_dir)
    return found[-1] if found else None


def model_spec(template: str, model: Path | None) -> str:
    """The policy spec for `model` (None: no model yet); see the module docstring."""
    name, _, params = template.partition(":")
    items = [p for p in params.split(",") if p]
    if any(PLACEHOLDER in p for p in items):
        items = [p.replace(PLACEHOLDER, str(model)) for p in items if model is not None or PLACEHOLDER not in p]
    elif model is not None:
        items = [p for p in items if p.partition("=")[0].strip() != "model"] + [f"model={model}"]
    return f"{name}:{','.join(items)}" if items else name


def check_template(template: str) -> None:
    """Refuse, before the service starts, a policy that could never use a retrained model."""
    if PLACEHOLDER in template:
        return
    name = template.partition(":")[0]
    cls = available().get(name)
    if cls is None:
        raise PolicyParamError(f"unknown policy {name!r}; known: {', '.join(available())}")
    if "model" not in parameters(cls):
        raise PolicyParamError(
            f"policy {name} takes no model, so retraining cannot change it; use e.g. qssf or psrtf, "
            f"or put {PLACEHOLDER} in the policy spec"
        )


# --- the retrainer ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetrainConfig:
    model_dir: Path
    """Where versions are written (`v0001`, ...); the latest one is used at start."""
    every_s: float | None = None
    """Seconds between scheduled checks; None: only on request."""
    min_new_jobs: int = 50
    """Completed jobs since the model in use was fitted needed before a refit."""
    predictor: PredictorConfig = PredictorConfig()


def retrain_config(settings: ServiceSettings) -> RetrainConfig | None:
    """Retraining as the settings ask for it; None when no model directory is set."""
    if settings.model_dir is None:
        return None
    return RetrainConfig(settings.model_dir, settings.retrain_every_s, settings.retrain_min_jobs)


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    swapped: bool
    """A new model was fitted, saved and is now the policy's."""
    reason: str
    policy: str
    """The policy spec in use after this call."""
    model: Path | None
    """The version in use after this call (None: none yet)."""
    jobs: int
    """Completed jobs in the store."""
    new_jobs: int
    """Of which finished since the model in use was fitted."""


class Retrainer:
    """Fits new predictor versions from the store and hot-swaps them through `reload`."""

    def __init__(
        self,
        store: JobStore,
        reload: Callable[[str], str],
        template: str,
        config: RetrainConfig,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        check_template(template)
        self.store = store
        self.reload = reload
        """The loop's reload: builds the policy from a spec inside the loop and returns the spec."""
        self.template = template
        self.config = config
        self.audit = audit
        self.clock = clock
        self.model = latest_version(config.model_dir)
        self.trained_on = _trained_on(self.model)
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def spec(self) -> str:
        """The policy spec for the latest model: what the service starts with."""
        return model_spec(self.template, self.model)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Check on a timer (when `every_s` is set); requests work either way."""
        if self.config.every_s is None:
            return
        self._thread = threading.Thread(target=self._run, name="kaon-retrainer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        assert self.config.every_s is not None
        while not self._halt.wait(self.config.every_s):
            try:
                outcome = self.retrain()
                log.info("retrain check: %s", outcome.reason)
                self.last_error = None
            except Exception as e:  # keep the schedule; the service keeps its current model
                log.exception("retraining failed")
                self.last_error = f"{type(e).__name__}: {e}"

    # --- one retraining -----------------------------------------------------------------------

    def retrain(self, force: bool = False, actor: str = RETRAINER) -> RetrainOutcome:
        """Refit and swap if enough new jobs finished (or `force` and at least 2 did)."""
        with self._lock:
            jobs = sum(n for _, phase, n in self.store.counts() if phase is JobPhase.COMPLETED)
            new = max(0, jobs - self.trained_on)
            if jobs < 2 or (not force and new < self.config.min_new_jobs):
                why = f"{new} new completed jobs, {self.config.min_new_jobs} needed" if jobs >= 2 else f"{jobs} completed jobs, at least 2 needed"
                return RetrainOutcome(False, why, self.spec, self.model, jobs, new)
            trace = history_trace(self.store)
            predictor = RuntimePredictor(self.config.predictor).fit(trace)
            version = self._save(predictor, trace)
            spec = self.reload(model_spec(self.template, version))
            self.model, self.trained_on = version, len(trace)
            reason = f"fitted on {len(trace)} completed jobs ({new} new)"
            if self.audit is not None:
                details = {"model": str(version), "policy": spec, "jobs": len(trace), "new_jobs": new}
                self.audit.append(actor, "retrain", "policy", reason, details, self.clock())
            return RetrainOutcome(True, reason, spec, version, jobs, new)

    def _save(self, predictor: RuntimePredictor, trace: Trace) -> Path:
        """Write the next version under a temporary name, then rename it into place."""
        root = self.config.model_dir
        root.mkdir(parents=True, exist_ok=True)
        latest = latest_version(root)
        number = int(latest.name[1:]) + 1 if latest is not None else 1
        final = root / f"v{number:04d}"
        staging = root / f".{final.name}.{os.getpid()}.tmp"
        predictor.save(staging)
        write_canonical(trace, staging / HISTORY_FILE)
        staging.rename(final)
        return final


def _trained_on(model: Path | None) -> int:
    """How many jobs the saved version was fitted on (0 when there is none)."""
    if model is None:
        return 0
    training = json.loads((model / MANIFEST_FILE).read_text()).get("training") or {}
    return int(training.get("jobs", 0))
