"""`create_app(settings)`: the FastAPI application of `kaon serve`, API under /api/v1.

The app owns one `Service`; its lifespan reconciles with running jobs and starts the scheduling
loop before the first request, and stops the loop (leaving jobs running) at shutdown.

One app can be served by several ASGI servers at once (in tests: a `TestClient` and the client
schemathesis opens on the same app), and each runs the lifespan. The service is started by the
first and stopped by the last to shut down: a second start would reconcile again and run a second
loop thread, and the first shutdown would stop the loop under the servers still open, whose
cancels then wait for a loop that is gone.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import kaon
from kaon.security.crypto import SecretKeyError
from kaon.service.admission import AdmissionError
from kaon.service.policy_host import default_policy_spec
from kaon.service.retrain import Retrainer, check_template, latest_version, model_spec, retrain_config
from kaon.service.routers import admin, cluster, holds, jobs, nodes, retrain as retrain_routes
from kaon.service.runtime import Service, build_service
from kaon.service.settings import ServiceSettings

API_PREFIX = "/api/v1"


def create_app(settings: ServiceSettings | None = None, service: Service | None = None) -> FastAPI:
    settings = service.settings if service is not None else settings or ServiceSettings()
    retrain = retrain_config(settings)
    template = settings.policy or default_policy_spec()
    if retrain is not None:  # the policy starts on the latest saved model, if any
        check_template(template)
        settings = settings.model_copy(update={"policy": model_spec(template, latest_version(retrain.model_dir))})
    service = service or build_service(settings)
    retrainer = None
    if retrain is not None:
        retrainer = Retrainer(service.store, service.loop.reload, template, retrain, service.audit)

    servers = _Servers()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if servers.enter():
            service.start()
            if retrainer is not None:
                retrainer.start()
        try:
            yield
        finally:
            if servers.leave():
                if retrainer is not None:
                    retrainer.stop()
                service.stop()

    app = FastAPI(
        title="kaon",
        version=kaon.__version__,
        summary="Scheduling service for AI jobs on shared, heterogeneous GPU clusters",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.retrainer = retrainer
    app.add_exception_handler(AdmissionError, _admission_error)
    app.add_exception_handler(SecretKeyError, _secret_key_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for module in (jobs, holds, cluster, nodes, admin, retrain_routes):
        app.include_router(module.router, prefix=API_PREFIX)
    return app


class _Servers:
    """How many servers have the app's lifespan open; only the first start and the last stop count."""

    def __init__(self) -> None:
        self._open = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Count one more server; True for the first (which starts the service)."""
        with self._lock:
            self._open += 1
            return self._open == 1

    def leave(self) -> bool:
        """Count one server less; True for the last (which stops the service)."""
        with self._lock:
            self._open -= 1
            return self._open == 0


async def _admission_error(_: Request, exc: Exception) -> JSONResponse:
    """The same shape as FastAPI's own 422s, so clients read one error format (409 or 422)."""
    assert isinstance(exc, AdmissionError)
    loc = ["body", *(int(p) if p.isdigit() else p for p in exc.field.split("."))]
    return JSONResponse(status_code=exc.status, content={"detail": [{"loc": loc, "msg": exc.message, "type": "value_error"}]})


async def _secret_key_error(_: Request, exc: Exception) -> JSONResponse:
    """A row sealed under a key this service does not hold is the operator's to fix, not the
    caller's: a 500 that says which job and what to run, instead of a bare one."""
    return JSONResponse(
        status_code=500,
        content={"detail": f"{exc}: the database holds secrets sealed under another key; "
                 "stop the service and run `kaon admin rotate-key` with every key involved"},
    )  # fmt: skip


def _json_safe(value: object) -> object:
    """NaN and the infinities as the strings JSON cannot otherwise carry, anywhere in `value`."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422, except that a rejected NaN or Infinity (which JSON parsers accept) is
    echoed back as a string: as a float it made the 422 itself unserialisable, a 500."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(exc.errors()))})
