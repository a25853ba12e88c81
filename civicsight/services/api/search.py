"""Search routes for investigators: tracks, plates, similar appearance (by example image),
and a track's detail.

- ``GET /api/tracks?cls=&camera=&since=&until=&limit=&cursor=``: tracks by time, camera
  and class, newest first.
- ``GET /api/search/plates?pattern=AB?12*&fuzzy=&since=&until=&camera=``: a plain plate is
  an exact search, ``?`` and ``*`` make a pattern, ``fuzzy=D`` (0 < D <= 2) an OCR-aware
  fuzzy search within distance D (a usual misread such as B/8 costs 0.25, any other
  edit 1).
- ``POST /api/search/image`` (multipart: ``image`` and form fields): the crop goes
  through the same embedding model as the re-ID service, then the k nearest tracks of
  the class, optionally within a time window and on some cameras.
- ``GET /api/tracks/{id}``: the track, its trajectory across cameras in time order, its
  best crop and one thumbnail per tracklet (camera visit), plate reads with confidences,
  and its merge/split history.

Every route here needs the ``search`` permission (investigators) and a ``case`` id and a
``purpose`` (else 400), and lands in the audit log with its results (for an image, the
SHA-256 of the upload, never the image). A time window longer than
``max_window_days`` is refused; without ``since`` a search covers the last
``max_window_days``. Errors are 4xx with a ``detail`` that says what to change.

Uploads: the body guard (``body_guard.py``) has checked the caller and capped the body
before this code runs; the image's type is read from its bytes and its size from its
header, and only then is it decoded (``uploads.py``), in a worker thread, so the event
loop keeps serving.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import BiometricSearch, input_digest
from civicsight.auth import Permission
from civicsight.events import SLUG, ObjectClass
from civicsight.plate_text import PatternError
from civicsight.services.api.deps import Audit, Authed, Embedder, Limits, Purposed, State, Store
from civicsight.services.api.params import (
    CameraFilter,
    Cursor,
    PageSize,
    Since,
    SinceForm,
    TrackId,
    Until,
    UntilForm,
    window,
)
from civicsight.services.api.security import purpose, require
from civicsight.services.api.uploads import decode_image
from civicsight.store import (
    PAGE_SIZE,
    BadCursorError,
    HistoryEntry,
    IndexNotReadyError,
    PlateHit,
    PlateQuery,
    PlateReadOut,
    Sighting,
    SimilarHit,
    SimilarQuery,
    StoredTrack,
    TrackQuery,
)
from civicsight.store.plates import MAX_FUZZY

BAD_CURSOR = "invalid cursor: pass the 'next' value of a previous page unchanged"

router = APIRouter(dependencies=[require(Permission.SEARCH)])


class TrackPage(BaseModel):
    items: list[StoredTrack]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class PlatePageOut(BaseModel):
    items: list[PlateHit]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class SimilarOut(BaseModel):
    model: str = Field(description="embedding model the query and the hits share")
    items: list[SimilarHit]


class Thumbnail(BaseModel):
    """The best crop of one tracklet: what the camera saw on that visit."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tracklet: str = Field(description="camera_id/tracker id")
    camera_id: str
    first_seen: float
    last_seen: float
    url: str = Field(description="the JPEG; send case and purpose (audited as thumbnail.view)")


class TrackDetailOut(StoredTrack):
    """A track with its trajectory, thumbnails, plate reads and merge/split history."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    trajectory: list[Sighting] = Field(description="tracklets across cameras, in time order")
    crop: str | None = Field(description="URL of the track's best crop; null: none stored")
    thumbnails: list[Thumbnail] = Field(
        description="one per tracklet whose best crop is stored, in time order"
    )
    plate_reads: list[PlateReadOut]
    history: list[HistoryEntry]


def thumbnails(track_id: str, legs: list[Sighting]) -> list[Thumbnail]:
    """The thumbnail of each tracklet that has a stored crop, in the trajectory's order."""
    base = f"/api/tracks/{quote(track_id, safe='')}/tracklets"
    return [
        Thumbnail(
            tracklet=leg.tracklet,
            camera_id=leg.camera_id,
            first_seen=leg.first_seen,
            last_seen=leg.last_seen,
            url=f"{base}/{leg.tracklet}/crop.jpg",  # camera slug / tracker number
        )
        for leg in legs
        if leg.has_crop
    ]


@router.get("/api/tracks", response_model=TrackPage, tags=["tracks"])
def search_tracks(
    store: Store,
    trail: Audit,
    limits: Limits,
    who: Authed,
    why: Purposed,
    cls: Annotated[ObjectClass | None, Query(description="object class")] = None,
    camera: CameraFilter = None,
    since: Since = None,
    until: Until = None,
    limit: PageSize = PAGE_SIZE,
    cursor: Cursor = None,
) -> TrackPage:
    since, until = window(since, until, limits, time.time())
    query = TrackQuery(
        cls=cls, camera=camera, since=since, until=until, limit=limit, cursor=cursor or None
    )
    try:
        page = store.search(query)
    except BadCursorError:
        raise HTTPException(400, BAD_CURSOR) from None
    details = {
        **why.details(),
        "query": {k: v for k, v in vars(query).items() if v is not None},
        "results": [t.track_id for t in page.items],
    }
    trail.append(who.label, who.role.value, "search.tracks", details)
    return TrackPage(items=page.items, next=page.next)


@router.get("/api/search/plates", response_model=PlatePageOut, tags=["search"])
def search_plates(
    store: Store,
    trail: Audit,
    limits: Limits,
    who: Authed,
    why: Purposed,
    pattern: Annotated[
        str,
        Query(
            min_length=1,
            max_length=40,
            description="plate (exact), or with ? (one character) and * (any run)",
        ),
    ],
    fuzzy: Annotated[
        float,
        Query(ge=0, le=MAX_FUZZY, description="OCR-aware distance (0: exact or pattern)"),
    ] = 0.0,
    since: Since = None,
    until: Until = None,
    camera: CameraFilter = None,
    limit: PageSize = PAGE_SIZE,
    cursor: Cursor = None,
) -> PlatePageOut:
    start, end = window(since, until, limits, time.time())
    wild = "?" in pattern or "*" in pattern
    if wild and fuzzy:
        raise HTTPException(400, "pattern: fuzzy search takes a plate without ? or *")
    mode: Literal["exact", "pattern", "fuzzy"] = (
        "fuzzy" if fuzzy else "pattern" if wild else "exact"
    )
    query = PlateQuery(mode, pattern, fuzzy, camera, start, end, limit, cursor or None)
    try:
        page = store.search_plates(query)
    except PatternError as err:
        raise HTTPException(400, f"pattern: {err}") from None
    except BadCursorError:
        raise HTTPException(400, BAD_CURSOR) from None
    asked = {"mode": mode, "pattern": pattern, "fuzzy": fuzzy, "camera": camera}
    results = [h.track_id or h.tracklet for h in page.items]
    details = {**why.details(), "query": asked, "results": results}
    trail.append(who.label, who.role.value, "search.plates", details)
    return PlatePageOut(items=page.items, next=page.next)


@router.post(
    "/api/search/image",
    response_model=SimilarOut,
    tags=["search"],
    responses={
        413: {"description": "upload too large"},
        415: {"description": "not a JPEG or PNG image"},
        503: {"description": "this hub has no re-ID models"},
    },
)
async def search_image(
    state: State,
    store: Store,
    trail: Audit,
    limits: Limits,
    embedder: Embedder,
    who: Authed,
    image: Annotated[UploadFile, File(description="a crop of the person or vehicle")],
    cls: Annotated[ObjectClass, Form(description="class of the object in the crop")],
    k: Annotated[int, Form(ge=1, le=100, description="how many tracks")] = 20,
    since: SinceForm = None,
    until: UntilForm = None,
    camera: Annotated[list[str] | None, Form(description="only these cameras")] = None,
    case: Annotated[str | None, Form(description="case id (required)")] = None,
    purpose_text: Annotated[
        str | None, Form(alias="purpose", description="stated purpose (required)")
    ] = None,
) -> SimilarOut:
    why = purpose(case, purpose_text)
    started = time.time()
    cameras = tuple(camera or ())
    for cam in cameras:
        if not re.fullmatch(SLUG, cam):
            raise HTTPException(400, f"camera: {cam[:70]!r} is not a camera id")
    start, end = window(since, until, limits, time.time())
    model = embedder.model_for(cls)
    if model is None:
        raise HTTPException(400, f"cls: {cls} crops are not embedded on this hub")
    data = await image.read(limits.max_upload_bytes + 1)
    async with state.search_uploads:  # two at a time: see ApiState
        pixels = await asyncio.to_thread(decode_image, data, limits)
        vector = await asyncio.to_thread(embedder.embed, pixels, cls)
    try:
        hits = await asyncio.to_thread(
            store.search_similar,
            SimilarQuery(vector.tolist(), cls, model, k, cameras, start, end),
        )
    except IndexNotReadyError as err:  # nothing was searched, so nothing to audit
        raise HTTPException(503, str(err), headers={"Retry-After": "30"}) from err
    results = [h.track_id or h.tracklet for h in hits]
    if cls == "person":
        # a search for a person by their look: logged as EU AI Act Art. 12(3) asks
        record = BiometricSearch(
            case_id=why.case,
            purpose=why.purpose,
            category=why.category,
            input_sha256=input_digest(data),
            reference_lists=(f"appearances:{model}",),
            started_at=started,
            ended_at=time.time(),
            matches=tuple(results),
        )
        trail.append_biometric_search(who.label, who.role.value, record)
    else:
        details = {
            **why.details(),
            "input_sha256": input_digest(data),
            "query": {"cls": cls, "k": k, "cameras": list(cameras)},
            "results": results,
        }
        trail.append(who.label, who.role.value, "search.image", details)
    return SimilarOut(model=model, items=hits)


@router.get("/api/tracks/{track_id}", response_model=TrackDetailOut, tags=["tracks"])
def track_detail(
    store: Store, trail: Audit, who: Authed, why: Purposed, track_id: TrackId
) -> TrackDetailOut:
    found = store.detail(track_id)
    if found is None:
        raise HTTPException(404, f"no track {track_id!r}")
    details = {**why.details(), "track": track_id}
    trail.append(who.label, who.role.value, "track.view", details)
    t = found.track
    return TrackDetailOut(
        **t.model_dump(),
        trajectory=found.trajectory,
        crop=f"/api/tracks/{quote(t.track_id, safe='')}/crop.jpg" if t.has_crop else None,
        thumbnails=thumbnails(t.track_id, found.trajectory),
        plate_reads=found.plate_reads,
        history=found.history,
    )
