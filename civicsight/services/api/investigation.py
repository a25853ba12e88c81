"""Investigation routes beside search: one tracklet's thumbnail, and a track exported as
a case file.

- ``GET /api/tracks/{id}/tracklets/{camera}/{n}/crop.jpg`` (``search``; case and purpose):
  the best crop of one tracklet of the track (a camera visit), audited as
  ``thumbnail.view``. A tracklet that is not part of the track is 404, so the audit entry
  always names the track the crop was seen under.
- ``GET /api/tracks/{id}/export`` (``export``: investigators; case and purpose): a zip
  with ``track.json`` and the crops (``case_file.py``). The ``export`` audit entry is
  written first, and its sequence number goes into the file.

The role check runs before any parameter is looked at (``require`` as a route
dependency), so a role that may not gets 403, never a 400 that says what to send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from civicsight.auth import Permission
from civicsight.cameras import CameraConfig
from civicsight.events import SLUG, tracklet_id
from civicsight.services.api.auth_routes import audit, audit_log
from civicsight.services.api.case_file import (
    CameraEntry,
    CaseFile,
    CaseInfo,
    Exporter,
    crop_files,
    download_name,
    file_entries,
    utc,
    zip_bytes,
)
from civicsight.services.api.security import Authed, Purposed, require
from civicsight.store import TrackStore

NO_STORE = {"Cache-Control": "no-store"}
TrackId = Annotated[str, PathParam(min_length=1, max_length=64)]
CameraId = Annotated[str, PathParam(pattern=SLUG, description="the tracklet's camera")]
TrackerId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="the camera's tracker id")]


def investigation_router(store: TrackStore, cameras: Sequence[CameraConfig]) -> APIRouter:
    router = APIRouter(tags=["tracks"])
    by_id = {cam.id: cam for cam in cameras}

    @router.get(
        "/api/tracks/{track_id}/tracklets/{camera_id}/{tracker_id}/crop.jpg",
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
        dependencies=[require(Permission.SEARCH)],
    )
    def tracklet_crop(
        request: Request,
        who: Authed,
        why: Purposed,
        track_id: TrackId,
        camera_id: CameraId,
        tracker_id: TrackerId,
    ) -> Response:
        name = tracklet_id(camera_id, tracker_id)
        detail = store.detail(track_id)
        if detail is None:
            raise HTTPException(404, f"no track {track_id!r}")
        if name not in {leg.tracklet for leg in detail.trajectory}:
            raise HTTPException(404, f"track {track_id!r} has no tracklet {name!r}")
        jpeg = store.tracklet_crop(name)
        if jpeg is None:
            raise HTTPException(404, f"tracklet {name!r} has no crop")
        details = {**why.details(), "track": track_id, "tracklet": name}
        audit(request, who.label, who.role.value, "thumbnail.view", details)
        return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)

    @router.get(
        "/api/tracks/{track_id}/export",
        response_class=Response,
        responses={200: {"content": {"application/zip": {}}}},
        dependencies=[require(Permission.EXPORT)],
    )
    def export(request: Request, who: Authed, why: Purposed, track_id: TrackId) -> Response:
        detail = store.detail(track_id)
        if detail is None:
            raise HTTPException(404, f"no track {track_id!r}")
        legs = [leg.tracklet for leg in detail.trajectory if leg.has_crop]
        shots = {name: jpeg for name in legs if (jpeg := store.tracklet_crop(name)) is not None}
        crops = crop_files(detail, store.crop(track_id), shots)
        files = file_entries(crops)
        # the entry first: no case file leaves without its record, and the file names it
        entry = audit_log(request).append(
            who.label,
            who.role.value,
            "export",
            {
                **why.details(),
                "track": track_id,
                "tracklets": [leg.tracklet for leg in detail.trajectory],
                "files": {f.name: f.sha256 for f in files},
            },
        )
        seen = dict.fromkeys(leg.camera_id for leg in detail.trajectory)
        head = CaseFile(
            case=CaseInfo(case_id=why.case, purpose=why.purpose, category=why.category),
            exported_by=Exporter(user=who.label, role=who.role.value),
            exported_at=entry.at,
            exported_at_utc=utc(entry.at),
            audit_entry_seq=entry.seq,
            track=detail,
            cameras=[
                CameraEntry(id=c.id, name=c.name, position=c.position)
                for c in (by_id.get(cam) for cam in seen)
                if c is not None
            ],
            files=files,
        )
        filename = download_name(why.case, track_id)
        headers = {
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Audit-Entry": str(entry.seq),
        }
        return Response(zip_bytes(head, crops), media_type="application/zip", headers=headers)

    return router
