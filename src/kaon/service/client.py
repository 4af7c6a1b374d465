"""`KaonClient`: a small typed HTTP client for the service's REST API, used by the CLI verbs.

The server address comes from, in order: an explicit argument, the KAON_SERVER environment
variable, `server = "..."` in the user's config file (config.toml in kaon's config directory), or
http://127.0.0.1:8265. The API token likewise: an argument, KAON_TOKEN, `token = "..."` in the
config file, or none (a `--dev-no-auth` server).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import platformdirs
from pydantic import BaseModel

from kaon.service.schemas import (
    AnomalyRead,
    ExplainRead,
    HealthRead,
    JobCreate,
    JobList,
    JobRead,
    LogChunk,
    NodeRead,
    QueueRead,
    ReloadRead,
)
from kaon.store.records import JobPhase

DEFAULT_SERVER = "http://127.0.0.1:8265"


class ClientError(RuntimeError):
    """The server could not be reached or refused the request; the message says why."""


def config_path() -> Path:
    return Path(platformdirs.user_config_dir("kaon", appauthor=False)) / "config.toml"


def _setting(name: str, explicit: str | None, config: Path | None) -> str | None:
    """`explicit`, else KAON_<NAME>, else `name = "..."` in the config file, else None."""
    if explicit:
        return explicit
    if os.environ.get(f"KAON_{name.upper()}"):
        return os.environ[f"KAON_{name.upper()}"]
    path = config or config_path()
    if path.exists():
        try:
            doc = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ClientError(f"{path}: not valid TOML: {e}") from None
        value = doc.get(name)
        if value is not None:
            if not isinstance(value, str):
                raise ClientError(f"{path}: field {name!r} must be a string")
            return value
    return None


def server_address(explicit: str | None = None, config: Path | None = None) -> str:
    return (_setting("server", explicit, config) or DEFAULT_SERVER).rstrip("/")


def api_token(explicit: str | None = None, config: Path | None = None) -> str | None:
    return _setting("token", explicit, config)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text
    if isinstance(detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}" for d in detail if isinstance(d, dict)
        )
    return str(detail)


class KaonClient:
    def __init__(self, server: str | None = None, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.server = server_address(server)
        token = api_token(token)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=f"{self.server}/api/v1", headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> KaonClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ClientError(f"cannot reach the kaon server at {self.server}: {e}") from None
        if response.status_code >= 400:
            raise ClientError(f"{response.status_code}: {_detail(response)}")
        return response.json()

    def submit(self, job: JobCreate) -> JobRead:
        return JobRead.model_validate(self._call("POST", "/jobs", json=_body(job)))

    def submit_batch(self, jobs: Sequence[JobCreate]) -> list[JobRead]:
        return _list_of(JobRead, self._call("POST", "/jobs/batch", json={"jobs": [_body(j) for j in jobs]}))

    def jobs(
        self, states: Sequence[JobPhase] = (), limit: int = 100, offset: int = 0, **filters: str | bool | None
    ) -> JobList:
        params: dict[str, Any] = {"limit": limit, "offset": offset, **{k: v for k, v in filters.items() if v is not None}}
        if states:
            params["state"] = [s.value for s in states]
        return JobList.model_validate(self._call("GET", "/jobs", params=params))

    def job(self, job_id: int) -> JobRead:
        return JobRead.model_validate(self._call("GET", f"/jobs/{job_id}"))

    def cancel(self, job_id: int) -> JobRead:
        return JobRead.model_validate(self._call("POST", f"/jobs/{job_id}/cancel"))

    def explain(self, job_id: int) -> ExplainRead:
        return ExplainRead.model_validate(self._call("GET", f"/jobs/{job_id}/explain"))

    def logs(self, job_id: int, offset: int = 0) -> LogChunk:
        return LogChunk.model_validate(self._call("GET", f"/jobs/{job_id}/logs", params={"offset": offset}))

    def nodes(self) -> list[NodeRead]:
        return _list_of(NodeRead, self._call("GET", "/nodes"))

    def drain(self, node: str, drained: bool = True) -> NodeRead:
        verb = "drain" if drained else "undrain"
        return NodeRead.model_validate(self._call("POST", f"/nodes/{quote(node, safe='')}/{verb}"))

    def queues(self) -> list[QueueRead]:
        return _list_of(QueueRead, self._call("GET", "/queues"))

    def health(self) -> HealthRead:
        return HealthRead.model_validate(self._call("GET", "/health"))

    def anomalies(self) -> list[AnomalyRead]:
        return _list_of(AnomalyRead, self._call("GET", "/anomalies"))

    def release(self, job_id: int, reason: str | None = None) -> JobRead:
        body = {"reason": reason} if reason else None
        return JobRead.model_validate(self._call("POST", f"/jobs/{job_id}/release", json=body))

    def reload(self, policy: str | None = None) -> ReloadRead:
        return ReloadRead.model_validate(self._call("POST", "/admin/reload", json={"policy": policy}))


Model = TypeVar("Model", bound=BaseModel)


def _body(job: JobCreate) -> dict[str, Any]:
    """The request as JSON, without the fields left unset (the server fills their defaults)."""
    return job.model_dump(mode="json", exclude_unset=True)


def _list_of(model: type[Model], doc: Any) -> list[Model]:
    return [model.model_validate(item) for item in doc]
