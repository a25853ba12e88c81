"""The HTTP API and the control-room page.

``create_app(state)`` takes everything the API serves in one ``ApiState`` (``state.py``:
the track store, tokens, the audit log, the camera registry, the live view, the optional
parts), sets it on the app once, and includes the module-level routers; the routes read
what they need through the dependencies in ``deps.py``. Nothing is created at import
time, so tests build apps from their own real parts. There is no app without an audit
log: ``ApiState`` cannot be made without one.

Only ``/api/health``, ``/api/auth/login``, the static page shell (which holds no data)
and the public transparency page with its aggregates (``/transparency``,
``/api/transparency``) answer without credentials; every data route needs a bearer token
or a session cookie, and a role allowed to reach it (``security.py``). Searches need a
case id and a purpose and are written to the audit log. Errors are JSON:
``{"detail": "..."}``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from civicsight.runtime import Metrics
from civicsight.services.api import (
    admin_routes,
    alerts_routes,
    audit_routes,
    auth_routes,
    cameras_routes,
    corrections,
    investigation,
    live_ws,
    rules_routes,
    search,
    system_routes,
    traffic_routes,
    transparency_routes,
    watchlist_routes,
)
from civicsight.services.api.body_guard import BodyGuard
from civicsight.services.api.request_metrics import RequestMetrics
from civicsight.services.api.security import known_caller
from civicsight.services.api.state import ApiState, MissingAuditLogError

log = logging.getLogger("api")

ROUTERS: tuple[APIRouter, ...] = (
    system_routes.router,
    auth_routes.router,
    cameras_routes.router,
    rules_routes.router,
    live_ws.router,
    search.router,
    investigation.router,
    corrections.router,
    traffic_routes.router,
    audit_routes.router,
    alerts_routes.router,
    watchlist_routes.router,
    admin_routes.router,
    transparency_routes.router,
)
"""Every route of the API, in the order they are matched."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
}


def _validation_detail(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def security_headers(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    else:
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


async def bad_request(_request: Request, err: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _validation_detail(err)}, status_code=400)


async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"detail": err.detail}, status_code=err.status_code, headers=err.headers)


async def server_error(request: Request, err: Exception) -> JSONResponse:
    log.error(
        "%s %s failed: %s", request.method, request.url.path, type(err).__name__, exc_info=err
    )
    return JSONResponse({"detail": "internal error"}, status_code=500)


def create_app(
    state: ApiState,
    *,
    allowed_hosts: Sequence[str] = ("*",),
    body_timeout_s: float = 10.0,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The API over ``state``. ``allowed_hosts``: Host header values served (``*``: any;
    the service passes ``CIVICSIGHT_ALLOWED_HOSTS``); ``body_timeout_s``: how long a
    request body may take to arrive; ``metrics``: where each request's seconds go (the
    API's Prometheus registry, served on its own port, never on this app)."""
    if not isinstance(state, ApiState):
        raise MissingAuditLogError(
            "create_app takes an ApiState (with its audit log): there is no API without one"
        )
    app = FastAPI(
        title="CivicSight API",
        version="1",
        docs_url=None,  # no public docs: the schema is served to token holders only
        redoc_url=None,
        openapi_url=None,
    )
    app.state.api = state  # set once; read by deps.py
    # outermost first: the Host check, then the body guard (credentials and size before
    # any body is read); the security headers (below) wrap both
    app.add_middleware(
        BodyGuard,
        known=known_caller,
        limits={
            "/api/search/image": state.limits.upload_body_bytes,
            "/api/watchlist": state.limits.upload_body_bytes,
        },
        open_paths={"/api/auth/login"},
        timeout_s=body_timeout_s,
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    for router in ROUTERS:
        app.include_router(router)

    app.middleware("http")(security_headers)
    if metrics is not None:  # outermost: times everything, the Host check included
        app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_exception_handler(RequestValidationError, bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, server_error)
    app.mount("/static", StaticFiles(directory=state.static_dir), name="static")
    return app
