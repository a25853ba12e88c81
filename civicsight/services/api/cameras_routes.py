"""The cameras for the roles that see live tiles (``live``).

- ``GET /api/cameras``: every camera as the registry holds it now (rules and analytics
  saved through the API included); the source only with its credentials removed.
- ``GET /api/cameras/{id}/latest.jpg``: the newest annotated frame (204 before the first
  one); faces are blurred unless the role has ``faces``. ``X-Frame-Seq``,
  ``X-Frame-Age-S`` and ``X-Frame-Annotated`` say which frame it is.

A camera's rules are in ``rules_routes.py``, its analytics in ``admin_routes.py``.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from civicsight.auth import Permission, may
from civicsight.cameras import Analytics, CameraConfig, Position
from civicsight.services.api.deps import Authed, Camera, Cameras, Live
from civicsight.services.api.params import NO_STORE
from civicsight.services.api.security import require

router = APIRouter(tags=["cameras"], dependencies=[require(Permission.LIVE)])


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


@router.get("/api/cameras", response_model=list[CameraOut])
def list_cameras(cameras: Cameras) -> list[CameraOut]:
    return [CameraOut.of(cam) for cam in cameras.all()]


@router.get(
    "/api/cameras/{camera_id}/latest.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 204: {"description": "no frame yet"}},
)
def latest_jpeg(live: Live, who: Authed, camera: Camera) -> Response:
    found = live.annotated(camera.id, redact=not may(who.role, Permission.FACES))
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
