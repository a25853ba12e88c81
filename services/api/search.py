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
  thumbnail, plate reads with confidences, and its merge/split history.

Every route here needs the ``search`` permission (investigators) and a ``case`` id and a
``purpose`` (else 400), and lands in the audit log with its results (for an image, the
SHA-256 of the upload, never the image). A time window longer than
``max_window_days`` is refused; without ``since`` a search covers the last
``max_window_days``. Errors are 4xx with a ``detail`` that says what to change.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import cv2
import numpy as np
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import AuditLog, BiometricSearch, input_digest
from civicsight.auth import Permission
from civicsight.events import ObjectClass
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
from civicsight.store.plates import MAX_FUZZY, PatternError
from services.api.app import CAMERA_ID_PATTERN, MAX_PAGE
from services.api.auth_routes import audit
from services.api.security import Authed, Purposed, purpose, require

IMAGE_TYPES = ("image/jpeg", "image/png")


class ImageEmbedder(Protocol):
    """The re-ID service's embedding models, for one uploaded crop at a time."""

    def model_for(self, cls: ObjectClass) -> str | None:
        """The model label stored vectors of ``cls`` carry (None: not embedded)."""
        ...

    def embed(self, image: np.ndarray, cls: ObjectClass) -> np.ndarray: ...


@dataclass(frozen=True)
class SearchLimits:
    max_window_days: float = 31.0
    max_upload_bytes: int = 2 * 1024 * 1024
    max_image_side: int = 4096
    min_image_side: int = 16


class PlatePageOut(BaseModel):
    items: list[PlateHit]
    next: str | None = Field(description="cursor of the next page; null on the last page")


class SimilarOut(BaseModel):
    model: str = Field(description="embedding model the query and the hits share")
    items: list[SimilarHit]


class TrackDetailOut(StoredTrack):
    """A track with its trajectory, thumbnails, plate reads and merge/split history."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    trajectory: list[Sighting] = Field(description="tracklets across cameras, in time order")
    thumbnails: list[str] = Field(description="URLs of the track's crops")
    plate_reads: list[PlateReadOut]
    history: list[HistoryEntry]


class UploadLimitRoute(APIRoute):
    """Refuses a body whose declared size is over the upload limit before reading it."""

    limit_bytes = SearchLimits().max_upload_bytes + 64 * 1024

    def get_route_handler(self) -> Callable[[Request], object]:  # type: ignore[override]
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > self.limit_bytes:
                raise HTTPException(413, too_large(self.limit_bytes))
            response: Response = await handler(request)
            return response

        return limited


def too_large(limit: int) -> str:
    return f"upload too large: at most {limit // 1024} KiB"


def window(
    since: float | None, until: float | None, limits: SearchLimits, now: float
) -> tuple[float, float | None]:
    """The searched time window; 400 when it is reversed or too long."""
    end = until if until is not None else now
    start = since if since is not None else end - limits.max_window_days * 86400
    if start > end:
        raise HTTPException(400, "since must not be after until")
    days = (end - start) / 86400
    if days > limits.max_window_days:
        raise HTTPException(
            400,
            f"time window of {days:.1f} days is too long: at most {limits.max_window_days:g} "
            "days; narrow since/until",
        )
    return start, until


def decode_image(data: bytes, content_type: str | None, limits: SearchLimits) -> np.ndarray:
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, too_large(limits.max_upload_bytes))
    if not data:
        raise HTTPException(400, "image: the upload is empty")
    if content_type not in IMAGE_TYPES:
        raise HTTPException(415, f"image: send a JPEG or PNG, not {content_type or 'unknown'}")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None:
        raise HTTPException(415, "image: not a readable JPEG or PNG")
    h, w = pixels.shape[:2]
    if min(h, w) < limits.min_image_side or max(h, w) > limits.max_image_side:
        raise HTTPException(
            400,
            f"image: {w}x{h} pixels; a crop needs {limits.min_image_side} to "
            f"{limits.max_image_side} pixels a side",
        )
    return pixels


def search_router(
    store: TrackStore,
    embedder: ImageEmbedder | None,
    limits: SearchLimits | None = None,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    lim = limits or SearchLimits()
    router = APIRouter(route_class=UploadLimitRoute, dependencies=[require(Permission.SEARCH)])

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
        since: Annotated[float | None, Query(ge=0, description="seen at or after")] = None,
        until: Annotated[float | None, Query(ge=0, description="seen at or before")] = None,
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
        details = {"case_id": why.case, "purpose": why.purpose, "query": asked}
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
        since: Annotated[float | None, Form(ge=0)] = None,
        until: Annotated[float | None, Form(ge=0)] = None,
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
        data = await image.read(lim.max_upload_bytes + 1)
        pixels = decode_image(data, image.content_type, lim)
        model = embedder.model_for(cls) if embedder is not None else None
        if embedder is None or model is None:
            raise HTTPException(400, f"cls: {cls} crops are not embedded on this hub")
        vector = await asyncio.to_thread(embedder.embed, pixels, cls)
        hits = await asyncio.to_thread(
            store.search_similar,
            SimilarQuery(vector.tolist(), cls, model, k, cameras, start, end),
        )
        results = [h.track_id or h.tracklet for h in hits]
        trail: AuditLog | None = getattr(request.app.state, "audit", None)
        if cls == "person" and trail is not None:
            # a search for a person by their look: logged as EU AI Act Art. 12(3) asks
            record = BiometricSearch(
                case_id=why.case,
                purpose=why.purpose,
                input_sha256=input_digest(data),
                reference_lists=(f"appearances:{model}",),
                started_at=started,
                ended_at=clock(),
                matches=tuple(results),
            )
            trail.append_biometric_search(who.label, who.role.value, record)
        else:
            details = {
                "case_id": why.case,
                "purpose": why.purpose,
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
        details = {"case_id": why.case, "purpose": why.purpose, "track": track_id}
        audit(request, who.label, who.role.value, "track.view", details)
        t = found.track
        return TrackDetailOut(
            **t.model_dump(),
            trajectory=found.trajectory,
            thumbnails=[f"/api/tracks/{t.track_id}/crop.jpg"] if t.has_crop else [],
            plate_reads=found.plate_reads,
            history=found.history,
        )

    return router


def _camera_ok(cam: str) -> bool:
    return re.fullmatch(CAMERA_ID_PATTERN.strip("^$"), cam) is not None
