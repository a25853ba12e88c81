"""The API's own routes: whether it answers, who is calling, its schema, the page shell.

- ``GET /api/health``: ``{"status": "ok"}`` to anyone; signed-in callers also get each
  service's newest heartbeat and input lag and each camera's state (live, stale,
  offline), what the control room shows.
- ``GET /api/me``: the caller, their role and what it may do, how they signed in.
- ``GET /api/openapi.json``: the schema, to signed-in callers only (no public docs).
- ``GET /``: the web app's shell (``static/index.html``), which holds no data.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from civicsight.auth import Permission, may
from civicsight.services.api.deps import Authed, State
from civicsight.services.api.feed import ServiceHealth
from civicsight.services.api.live import CameraState, camera_states
from civicsight.services.api.security import known_caller

router = APIRouter()


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


@router.get("/api/health", response_model=Health, response_model_exclude_none=True)
def health(request: Request, state: State) -> Health:
    """Public: whether the API answers. Signed in: also each service's heartbeat and
    lag and each camera's state (what the control room shows)."""
    if not known_caller(request):
        return Health()
    now = time.time()
    return Health(
        services=state.feed.health.services(now),
        cameras=camera_states(state.cameras.all(), state.live, now),
    )


@router.get("/api/me", response_model=Me)
def me(who: Authed) -> Me:
    return Me(
        token_id=who.token_id,
        role=who.role.value,
        label=who.label,
        permissions=sorted(p.value for p in Permission if may(who.role, p)),
        method="password" if who.token_id.startswith("session:") else "token",
        expires_at=who.expires_at,
    )


@router.get("/api/openapi.json", include_in_schema=False)
def openapi(request: Request, _who: Authed) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/", include_in_schema=False)
def index(state: State) -> FileResponse:
    return FileResponse(state.static_dir / "index.html", media_type="text/html")
