"""The HTTP API and the control-room page.

``create_app`` receives everything it serves (store, token and user stores, cameras, live
view, audit log, retention policy), so nothing is created at import time and tests pass in
their own. Only ``/api/health``, ``/api/auth/login``, the static page shell (which holds no
data) and the public transparency page with its aggregates (``/transparency``,
``/api/transparency``) answer without credentials; every data route needs a bearer token
or a session cookie, and a role allowed to reach it (``services/api/security.py``).
Searches need a case id and a purpose and are written to the audit log. Errors are JSON:
``{"detail": "..."}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import Permission, TokenStore, may
from civicsight.bus import Publisher
from civicsight.cameras import Analytics, CameraConfig, Position
from civicsight.events import ObjectClass
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.services.api.admin_routes import admin_router
from civicsight.services.api.aggregates import aggregates_router
from civicsight.services.api.alerts_routes import alerts_router
from civicsight.services.api.audit_routes import audit_router
from civicsight.services.api.auth_routes import audit
from civicsight.services.api.auth_routes import router as auth_router
from civicsight.services.api.body_guard import BodyGuard
from civicsight.services.api.corrections import corrections_router
from civicsight.services.api.feed import Feed, ServiceHealth
from civicsight.services.api.investigation import investigation_router
from civicsight.services.api.live import LiveView
from civicsight.services.api.live_ws import CameraState, camera_states, live_router
from civicsight.services.api.params import MAX_PAGE, SearchLimits, Since, Until, window
from civicsight.services.api.rules_routes import rules_router
from civicsight.services.api.security import Authed, Purposed, known_caller, require
from civicsight.services.api.transparency_routes import transparency_router
from civicsight.services.api.watchlist_routes import Enrolment, watchlist_router
from civicsight.store import BadCursorError, StoredTrack, TrackQuery, TrackStore
from civicsight.users import UserStore
from civicsight.watchlist import WatchlistStore

if TYPE_CHECKING:
    from civicsight.services.api.search import ImageEmbedder

log = logging.getLogger("api")

STATIC_DIR = Path(__file__).parent / "static"
CAMERA_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

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
NO_STORE = {"Cache-Control": "no-store"}


class Health(BaseModel):
    status: str = "ok"
    services: list[ServiceHealth] | None = Field(
        None, description="each service's newest heartbeat and input lag (signed-in callers)"
    )
    cameras: list[CameraState] | None = Field(
        None, description="each camera's newest frame: live, stale, offline (signed-in callers)"
    )


class Me(BaseModel):
    token_id: str
    role: str
    label: str
    permissions: list[str] = Field(description="what this role may do")
    method: str = Field(description="how the caller signed in: token or password")
    expires_at: float | None = Field(description="when this token or session ends")


class CameraOut(BaseModel):
    """A camera as the API shows it: the source only with its credentials removed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str
    fps: float
    position: Position
    analytics: Analytics
    simulated: bool
    redacted_source: str = Field(description="source URL without user, password or query")

    @classmethod
    def of(cls, cam: CameraConfig) -> CameraOut:
        return cls(
            id=cam.id,
            name=cam.name,
            fps=cam.fps,
            position=cam.position,
            analytics=cam.analytics,
            simulated=cam.simulated,
            redacted_source=cam.redacted_source,
        )


class TrackPage(BaseModel):
    items: list[StoredTrack]
    next: str | None = Field(description="cursor of the next page; null on the last page")


def _validation_detail(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body")]
        parts.append(f"{'.'.join(loc) or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


TrackId = Annotated[str, PathParam(min_length=1, max_length=64)]


def create_app(
    store: TrackStore,
    tokens: TokenStore,
    cameras: Sequence[CameraConfig],
    live: LiveView,
    audit_log: AuditLog,
    static_dir: Path = STATIC_DIR,
    users: UserStore | None = None,
    publisher: Publisher | None = None,
    embedder: ImageEmbedder | None = None,
    allowed_hosts: Sequence[str] = ("*",),
    limits: SearchLimits | None = None,
    body_timeout_s: float = 10.0,
    cameras_dir: Path | None = None,
    feed: Feed | None = None,
    alerts: AlertStore | None = None,
    watchlist: WatchlistStore | None = None,
    enrolment: Enrolment | None = None,
    retention: RetentionPolicy = DEFAULT_POLICY,
) -> FastAPI:
    """The API. ``allowed_hosts``: Host header values served (``*``: any; the service
    passes ``CIVICSIGHT_ALLOWED_HOSTS``); ``body_timeout_s``: how long a request body may
    take to arrive; ``cameras_dir``: where the camera files are (rules and analytics are
    saved there; None: read-only); ``feed``: the control room's event feed and service
    health (the live feed fills it); ``alerts``, ``watchlist``, ``enrolment``: the alert
    store, the face watchlist and the face models that enrol into it (None: those routes
    answer 503); ``retention``: the policy in force (shown to administrators and on the
    transparency page)."""
    lim = limits or SearchLimits()
    app = FastAPI(
        title="CivicSight API",
        version="1",
        docs_url=None,  # no public docs: the schema is served to token holders only
        redoc_url=None,
        openapi_url=None,
    )
    events = feed or Feed()
    app.state.tokens = tokens
    app.state.users = users
    app.state.audit = audit_log
    app.state.cameras_dir = cameras_dir
    # outermost first: the Host check, then the body guard (credentials and size before
    # any body is read); the security headers (below) wrap both
    app.add_middleware(
        BodyGuard,
        known=known_caller,
        limits={
            "/api/search/image": lim.upload_body_bytes,
            "/api/watchlist": lim.upload_body_bytes,
        },
        open_paths={"/api/auth/login"},
        timeout_s=body_timeout_s,
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.include_router(auth_router)
    app.include_router(aggregates_router(store))
    app.include_router(audit_router())
    app.include_router(corrections_router(publisher))
    app.include_router(live_router(cameras, live, events))
    app.include_router(rules_router(cameras, live))
    app.include_router(alerts_router(alerts, watchlist, cameras))
    app.include_router(watchlist_router(watchlist, enrolment, lim))
    app.include_router(admin_router(cameras, retention))
    app.include_router(transparency_router(cameras, retention, static_dir))
    by_id = {cam.id: cam for cam in cameras}

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        else:
            response.headers.setdefault("Cache-Control", "no-cache")
        return response

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(err)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": err.detail}, status_code=err.status_code, headers=err.headers
        )

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> JSONResponse:
        log.error(
            "%s %s failed: %s", request.method, request.url.path, type(err).__name__, exc_info=err
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/api/health", response_model=Health, response_model_exclude_none=True)
    def health(request: Request) -> Health:
        """Public: whether the API answers. Signed in: also each service's heartbeat and
        lag and each camera's state (what the control room shows)."""
        if not known_caller(request):
            return Health()
        now = time.time()
        return Health(
            services=events.health.services(now), cameras=camera_states(cameras, live, now)
        )

    @app.get("/api/me", response_model=Me)
    def me(who: Authed) -> Me:
        return Me(
            token_id=who.token_id,
            role=who.role.value,
            label=who.label,
            permissions=sorted(p.value for p in Permission if may(who.role, p)),
            method="password" if who.token_id.startswith("session:") else "token",
            expires_at=who.expires_at,
        )

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_who: Authed) -> dict[str, Any]:
        return app.openapi()

    live_only = require(Permission.LIVE)
    search_only = require(Permission.SEARCH)

    @app.get("/api/cameras", response_model=list[CameraOut], dependencies=[live_only])
    def list_cameras() -> list[CameraOut]:
        return [CameraOut.of(cam) for cam in cameras]

    @app.get(
        "/api/cameras/{camera_id}/latest.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 204: {"description": "no frame yet"}},
        dependencies=[live_only],
    )
    def latest_jpeg(
        who: Authed,
        camera_id: Annotated[str, PathParam(pattern=CAMERA_ID_PATTERN)],
    ) -> Response:
        if camera_id not in by_id:
            raise HTTPException(404, f"unknown camera {camera_id!r}")
        found = live.annotated(camera_id, redact=not may(who.role, Permission.FACES))
        if found is None:
            return Response(status_code=204, headers=NO_STORE)
        jpeg, shown = found
        headers = {
            **NO_STORE,
            "X-Frame-Seq": str(shown.frame.seq),
            "X-Frame-Age-S": f"{max(0.0, time.time() - shown.frame.captured_at):.1f}",
            "X-Frame-Annotated": "1" if shown.detections is not None else "0",
        }
        return Response(jpeg, media_type="image/jpeg", headers=headers)

    @app.get("/api/tracks", response_model=TrackPage, dependencies=[search_only])
    def search_tracks(
        request: Request,
        who: Authed,
        why: Purposed,
        cls: Annotated[ObjectClass | None, Query(description="object class")] = None,
        camera: Annotated[str | None, Query(pattern=CAMERA_ID_PATTERN)] = None,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> TrackPage:
        since, until = window(since, until, lim, time.time())
        query = TrackQuery(
            cls=cls, camera=camera, since=since, until=until, limit=limit, cursor=cursor or None
        )
        try:
            page = store.search(query)
        except BadCursorError:
            raise HTTPException(
                400, "invalid cursor: pass the 'next' value of a previous page unchanged"
            ) from None
        audit(
            request,
            who.label,
            who.role.value,
            "search.tracks",
            {
                **why.details(),
                "query": {k: v for k, v in vars(query).items() if v is not None},
                "results": [t.track_id for t in page.items],
            },
        )
        return TrackPage(items=page.items, next=page.next)

    from civicsight.services.api.search import search_router  # it imports this module

    app.include_router(search_router(store, embedder, lim))
    app.include_router(investigation_router(store, cameras))

    @app.get(
        "/api/tracks/{track_id}/crop.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
        dependencies=[search_only],  # the role first: no 400 tells a viewer what to send
    )
    def track_crop(request: Request, who: Authed, why: Purposed, track_id: TrackId) -> Response:
        jpeg = store.crop(track_id)
        if jpeg is None:
            detail = "track has no crop" if store.get(track_id) else f"no track {track_id!r}"
            raise HTTPException(404, detail)
        details = {**why.details(), "track": track_id}
        audit(request, who.label, who.role.value, "thumbnail.view", details)
        return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static_dir / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app
