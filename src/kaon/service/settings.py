"""Service settings: command-line flags of `kaon serve`, or KAON_* environment variables."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaon.store.db import data_dir, default_url


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAON_", extra="forbid")

    db_url: str | None = None
    """SQLAlchemy URL; default SQLite in the user's data directory."""
    policy: str | None = None
    """Policy spec (`name:key=value,...`); default `fifo-backfill` if registered, else `fifo`."""
    gpus: int | None = None
    gpu_type: str | None = None
    cluster: str | None = None
    """A cluster YAML (or a bundled cluster name) instead of --gpus/--gpu-type or NVML."""
    state_dir: Path | None = None
    """Job logs and executor state; default: a directory per database under the data directory."""
    grace_s: float = Field(10.0, ge=0)
    poll_interval_s: float = Field(0.05, gt=0)
    default_time_limit_s: float = Field(3600.0, gt=0)
    model_dir: Path | None = None
    """Versioned runtime predictors written by retraining (`v0001`, ...); setting it turns
    retraining on, and the policy spec then names the model (`qssf:model={model}`)."""
    retrain_every_s: float | None = Field(None, gt=0)
    """Seconds between scheduled retraining checks; None: only on `POST /admin/retrain`."""
    retrain_min_jobs: int = Field(50, ge=2)
    """Jobs completed since the model in use was fitted that a scheduled retraining needs."""
    dev_no_auth: bool = False
    """No authentication: everyone is admin. `kaon serve` allows it on a loopback address only."""
    auth_secret_file: Path | None = None
    """HMAC key for API token hashes; default `auth.secret` in the state directory (created once)."""
    key_file: Path | None = None
    """AES key for job commands and environments at rest (else `secret_key`, else `secret.key` in
    the state directory, created once)."""
    secret_key: str | None = None
    """The key itself (KAON_SECRET_KEY), base64 of 32 bytes."""
    inventory_check_s: float = Field(2.0, gt=0)
    """How often the cluster file (when it changed) or NVML is read again for node changes."""
    hold_anomalous: bool = False
    """Hold anomalous jobs (a submission burst, a request far beyond the user's history, a user
    whose last jobs failed, a requeued job far past its time limit) until an operator releases them."""
    quotas: Path | None = None
    """A fair-share quota YAML (docs/QUOTAS.md): the policy is wrapped in `QuotaPolicy`."""

    def resolved_db_url(self) -> str:
        return self.db_url or default_url()

    def resolved_state_dir(self) -> Path:
        """Per-database, so two services on two databases never mistake each other's jobs."""
        if self.state_dir is not None:
            return self.state_dir
        digest = hashlib.sha1(self.resolved_db_url().encode()).hexdigest()[:12]
        return data_dir() / "state" / digest

    def resolved_auth_secret_file(self) -> Path:
        return self.auth_secret_file or self.resolved_state_dir() / "auth.secret"

    def resolved_key_file(self) -> Path:
        return self.resolved_state_dir() / "secret.key"
