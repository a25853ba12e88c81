"""Investigation routes beside search: a track's crop, one tracklet's thumbnail, and a
track exported as a case file.

- ``GET /api/tracks/{id}/crop.jpg`` (``search``; case and purpose): the track's best crop
  (a cross-camera track, which has none of its own, shows its longest camera visit's),
  audited as ``thumbnail.view``.
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

from typing import Annotated

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import Response

from civicsight.auth import Permission
from civicsight.events import tracklet_id
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
from civicsight.services.api.deps import Audit, Authed, Cameras, Purposed, Store
from civicsight.services.api.params import JPEG_ANSWER, NO_STORE, CameraPath, TrackId
from civicsight.services.api.security import require

TrackerId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="the camera's tracker id")]

# the role check runs first (a route dependency): no 400 tells a viewer what to send
router = APIRouter(tags=["tracks"])


@router.get(
    "/api/tracks/{track_id}/crop.jpg",
    response_class=Response,
    responses=JPEG_ANSWER,
    dependencies=[require(Permission.SEARCH)],
)
def track_crop(
    store: Store, trail: Audit, who: Authed, why: Purposed, track_id: TrackId
) -> Response:
    jpeg = store.crop(track_id)
    if jpeg is None:
        detail = "track has no crop" if store.get(track_id) else f"no track {track_id!r}"
        raise HTTPException(404, detail)
    details = {**why.details(), "track": track_id}
    trail.append(who.label, who.role.value, "thumbnail.view", details)
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)


@router.get(
    "/api/tracks/{track_id}/tracklets/{camera_id}/{tracker_id}/crop.jpg",
    response_class=Response,
    responses=JPEG_ANSWER,
    dependencies=[require(Permission.SEARCH)],
)
def tracklet_crop(
    store: Store,
    trail: Audit,
    who: Authed,
    why: Purposed,
    track_id: TrackId,
    camera_id: CameraPath,
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
    trail.append(who.label, who.role.value, "thumbnail.view", details)
    return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)


@router.get(
    "/api/tracks/{track_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    dependencies=[require(Permission.EXPORT)],
)
def export(
    store: Store, trail: Audit, cameras: Cameras, who: Authed, why: Purposed, track_id: TrackId
) -> Response:
    detail = store.detail(track_id)
    if detail is None:
        raise HTTPException(404, f"no track {track_id!r}")
    legs = [leg.tracklet for leg in detail.trajectory if leg.has_crop]
    shots = {name: jpeg for name in legs if (jpeg := store.tracklet_crop(name)) is not None}
    crops = crop_files(detail, store.crop(track_id), shots)
    files = file_entries(crops)
    # the entry first: no case file leaves without its record, and the file names it
    entry = trail.append(
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
            for c in (cameras.get(cam) for cam in seen)
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
