"""Search routes for investigators: plates, similar appearance (by example image), and a
track's detail.

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
header, and only then is it decoded, in a worker thread, so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Annotated, Literal, Protocol
from urllib.parse import quote

import cv2
import numpy as np
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import BiometricSearch, input_digest
from civicsight.auth import Permission
from civicsight.events import ObjectClass
from civicsight.images import image_header
from civicsight.plate_text import PatternError
from civicsight.services.api.app import CAMERA_ID_PATTERN
from civicsight.services.api.auth_routes import audit, audit_log
from civicsight.services.api.body_guard import too_large
from civicsight.services.api.params import (
    MAX_PAGE,
    SearchLimits,
    Since,
    SinceForm,
    Until,
    UntilForm,
    window,
)
from civicsight.services.api.security import Authed, Purposed, purpose, require
from civicsight.store import (
    BadCursorError,
    HistoryEntry,
    PlateHit,
    PlateQuery,
    PlateReadOut,
    Sighting,
    SimilarHit,
    SimilarQuery,
    StoredTrack,
    TrackStore,
)
from civicsight.store.plates import MAX_FUZZY


class ImageEmbedder(Protocol):
    """The re-ID service's embedding models, for one uploaded crop at a time."""

    def model_for(self, cls: ObjectClass) -> str | None:
        """The model label stored vectors of ``cls`` carry (None: not embedded)."""
        ...

    def embed(self, image: np.ndarray, cls: ObjectClass) -> np.ndarray: ...


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


def decode_image(data: bytes, limits: SearchLimits) -> np.ndarray:
    """The pixels of an uploaded JPEG or PNG. The type comes from the bytes, never from
    the upload's Content-Type, and the size from the file's header before anything is
    decoded: a small file that declares a huge image is refused without decoding it."""
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, too_large(limits.max_upload_bytes))
    if not data:
        raise HTTPException(400, "image: the upload is empty")
    header = image_header(data)
    if header is None:
        raise HTTPException(415, "image: not a readable JPEG or PNG (type read from its bytes)")
    side = max(header.width, header.height)
    if side > limits.max_image_side:
        raise HTTPException(
            413,
            f"image: {header.width}x{header.height} pixels is too large; at most "
            f"{limits.max_image_side} pixels a side",
        )
    if min(header.width, header.height) < limits.min_image_side:
        raise HTTPException(
            400,
            f"image: {header.width}x{header.height} pixels; a crop needs "
            f"{limits.min_image_side} to {limits.max_image_side} pixels a side",
        )
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:
        pixels = None
    if pixels is None or pixels.shape[:2] != (header.height, header.width):
        raise HTTPException(415, f"image: not a readable {header.kind.upper()}")
    return pixels


def search_router(
    store: TrackStore,
    embedder: ImageEmbedder | None,
    limits: SearchLimits | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    lim = limits or SearchLimits()
    router = APIRouter(dependencies=[require(Permission.SEARCH)])
    # decoding and embedding run in worker threads; two at a time at most, so a burst of
    # large uploads cannot take every thread or the memory for many decoded images
    heavy = asyncio.Semaphore(2)

    @router.get("/api/search/plates", response_model=PlatePageOut, tags=["search"])
    def search_plates(
        request: Request,
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
        camera: Annotated[str | None, Query(pattern=CAMERA_ID_PATTERN)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> PlatePageOut:
        start, end = window(since, until, lim, clock())
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
            raise HTTPException(
                400, "invalid cursor: pass the 'next' value of a previous page unchanged"
            ) from None
        asked = {"mode": mode, "pattern": pattern, "fuzzy": fuzzy, "camera": camera}
        details = {**why.details(), "query": asked}
        results = [h.track_id or h.tracklet for h in page.items]
        audit(request, who.label, who.role.value, "search.plates", {**details, "results": results})
        return PlatePageOut(items=page.items, next=page.next)

    @router.post(
        "/api/search/image",
        response_model=SimilarOut,
        tags=["search"],
        responses={
            413: {"description": "upload too large"},
            415: {"description": "not a JPEG or PNG image"},
        },
    )
    async def search_image(
        request: Request,
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
        started = clock()
        cameras = tuple(camera or ())
        for cam in cameras:
            if not _camera_ok(cam):
                raise HTTPException(400, f"camera: {cam[:70]!r} is not a camera id")
        start, end = window(since, until, lim, clock())
        model = embedder.model_for(cls) if embedder is not None else None
        if embedder is None or model is None:
            raise HTTPException(400, f"cls: {cls} crops are not embedded on this hub")
        data = await image.read(lim.max_upload_bytes + 1)
        async with heavy:
            pixels = await asyncio.to_thread(decode_image, data, lim)
            vector = await asyncio.to_thread(embedder.embed, pixels, cls)
        hits = await asyncio.to_thread(
            store.search_similar,
            SimilarQuery(vector.tolist(), cls, model, k, cameras, start, end),
        )
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
                ended_at=clock(),
                matches=tuple(results),
            )
            audit_log(request).append_biometric_search(who.label, who.role.value, record)
        else:
            details = {
                **why.details(),
                "input_sha256": input_digest(data),
                "query": {"cls": cls, "k": k, "cameras": list(cameras)},
                "results": results,
            }
            audit(request, who.label, who.role.value, "search.image", details)
        return SimilarOut(model=model, items=hits)

    @router.get("/api/tracks/{track_id}", response_model=TrackDetailOut, tags=["tracks"])
    def track_detail(
        request: Request,
        who: Authed,
        why: Purposed,
        track_id: Annotated[str, PathParam(min_length=1, max_length=64)],
    ) -> TrackDetailOut:
        found = store.detail(track_id)
        if found is None:
            raise HTTPException(404, f"no track {track_id!r}")
        details = {**why.details(), "track": track_id}
        audit(request, who.label, who.role.value, "track.view", details)
        t = found.track
        return TrackDetailOut(
            **t.model_dump(),
            trajectory=found.trajectory,
            crop=f"/api/tracks/{quote(t.track_id, safe='')}/crop.jpg" if t.has_crop else None,
            thumbnails=thumbnails(t.track_id, found.trajectory),
            plate_reads=found.plate_reads,
            history=found.history,
        )

    return router


def _camera_ok(cam: str) -> bool:
    return re.fullmatch(CAMERA_ID_PATTERN.strip("^$"), cam) is not None
