"""The face watchlist for the roles that manage it (``watchlist``: investigators).

- ``GET /api/watchlist``: every live entry with its case, reason, who added it, when it
  expires and the days left (expired entries are purged first). The label (the person's
  name or alias) is shown here and never written to the audit log; the listing itself is
  audited (``watchlist.view``: how many entries).
- ``POST /api/watchlist`` (multipart: ``photo`` JPEG or PNG, ``label``, ``case_id``,
  ``reason``, ``days`` (1-365), ``watchlist_id``): enrolment here, with the same face
  models and rules as the faces service and ``civicsight watchlist add``
  (``civicsight.watchlist.enrol``): the photo must show exactly one clear face (else 422,
  saying why). The entry id is made here (``e-`` and random hex), so no name can become
  an id that travels on the bus. The entry keeps its embedding and the enrolled face as
  reference photo; audited (``watchlist.add``) by the watchlist store.
- ``DELETE /api/watchlist/{watchlist_id}/{entry_id}?reason=``: removes the entry, its
  embeddings and its photo; audited with the reason.

Uploads are checked as the image search checks them (``uploads.decode_image``:
type from the bytes, size from the header, decoded in a worker thread); the body guard
caps the request before any of it is read. Without a watchlist store the routes answer
503; without the face models, enrolment answers 503.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from civicsight.audit import CASE_PATTERN
from civicsight.auth import Permission
from civicsight.faces import EnrolmentError
from civicsight.services.api.deps import Audit, Authed, Enrol, Limits, State, Watchlist
from civicsight.services.api.security import require
from civicsight.services.api.state import Enrolment, FaceModelsUnavailableError
from civicsight.services.api.uploads import decode_image
from civicsight.watchlist import (
    DAY_S,
    ID_PATTERN,
    MAX_DAYS,
    WatchlistEntry,
    WatchlistError,
    WatchlistStore,
    enrol,
)

IdPath = Annotated[str, PathParam(pattern=ID_PATTERN)]
EXPIRING_SOON_DAYS = 7.0

router = APIRouter(tags=["watchlist"], dependencies=[require(Permission.WATCHLIST)])


class EntryOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    watchlist_id: str
    entry_id: str = Field(description="opaque id, published on matches")
    label: str = Field(description="who this is (name or alias); never audited or published")
    case_id: str
    reason: str
    added_by: str
    added_at: float
    expires_at: float
    days_left: float = Field(description="days until the entry expires and is deleted")
    expiring_soon: bool = Field(description=f"fewer than {EXPIRING_SOON_DAYS:g} days left")
    photos: int = Field(description="enrolled embeddings")
    has_photo: bool = Field(description="the enrolled face is kept as reference photo")


class WatchlistOut(BaseModel):
    entries: list[EntryOut] = Field(description="soonest to expire first")
    max_days: int = Field(description="longest an entry may last")


def entry_out(entry: WatchlistEntry, photos: int, has_photo: bool, now: float) -> EntryOut:
    left = max(0.0, (entry.expires_at - now) / DAY_S)
    return EntryOut(
        **entry.model_dump(),
        days_left=round(left, 2),
        expiring_soon=left < EXPIRING_SOON_DAYS,
        photos=photos,
        has_photo=has_photo,
    )


def _form_problem(err: ValidationError) -> str:
    """The first problem of an entry, named by its form field (never echoing the value)."""
    first = err.errors()[0]
    where = str(first["loc"][0]) if first["loc"] else "entry"
    return f"{where}: {first['msg']}"


def listing(watchlist: WatchlistStore, now: float) -> list[EntryOut]:
    with_photo = watchlist.with_reference()
    out = [
        entry_out(e, n, (e.watchlist_id, e.entry_id) in with_photo, now)
        for e, n in watchlist.entries()
        if not e.expired(now)
    ]
    return sorted(out, key=lambda e: (e.expires_at, e.watchlist_id, e.entry_id))


@router.get("/api/watchlist", response_model=WatchlistOut)
def list_entries(watchlist: Watchlist, trail: Audit, who: Authed) -> WatchlistOut:
    now = time.time()
    watchlist.purge_expired(now)
    entries = listing(watchlist, now)
    trail.append(who.label, who.role.value, "watchlist.view", {"entries": len(entries)})
    return WatchlistOut(entries=entries, max_days=MAX_DAYS)


@router.post(
    "/api/watchlist",
    response_model=EntryOut,
    status_code=201,
    responses={
        409: {"description": "the entry is already on the watchlist"},
        413: {"description": "upload too large"},
        415: {"description": "not a JPEG or PNG image"},
        422: {"description": "the photo does not show exactly one clear face"},
        503: {"description": "no watchlist store or no face models on this hub"},
    },
)
async def add_entry(
    state: State,
    watchlist: Watchlist,
    enrolment: Enrol,
    limits: Limits,
    who: Authed,
    photo: Annotated[UploadFile, File(description="JPEG or PNG showing only the person")],
    label: Annotated[str, Form(min_length=1, max_length=120, description="name or alias")],
    case_id: Annotated[str, Form(pattern=CASE_PATTERN, description="case reference")],
    reason: Annotated[str, Form(min_length=5, max_length=500, description="why enrolled")],
    days: Annotated[int, Form(ge=1, le=MAX_DAYS, description="days until it expires")],
    watchlist_id: Annotated[str, Form(pattern=ID_PATTERN, description="which watchlist")],
) -> EntryOut:
    now = time.time()
    try:
        entry = WatchlistEntry(
            watchlist_id=watchlist_id,
            entry_id="e-" + secrets.token_hex(6),
            label=label.strip(),
            case_id=case_id,
            reason=reason.strip(),
            added_by=who.label,
            added_at=now,
            expires_at=now + days * DAY_S,
        )
    except ValidationError as err:
        raise HTTPException(400, _form_problem(err)) from None
    data = await photo.read(limits.max_upload_bytes + 1)
    async with state.enrol_uploads:  # one upload at a time: see ApiState
        pixels = await asyncio.to_thread(decode_image, data, limits)
        photos = await asyncio.to_thread(
            _enrol, watchlist, entry, pixels, enrolment, who.role.value
        )
    with_photo = (entry.watchlist_id, entry.entry_id) in watchlist.with_reference()
    return entry_out(entry, photos, with_photo, time.time())


@router.delete("/api/watchlist/{watchlist_id}/{entry_id}", status_code=204)
def remove_entry(
    watchlist: Watchlist,
    who: Authed,
    watchlist_id: IdPath,
    entry_id: IdPath,
    reason: Annotated[
        str, Query(min_length=5, max_length=500, description="why the entry is removed")
    ],
) -> None:
    text = reason.strip()
    if len(text) < 5 or not text.isprintable():
        raise HTTPException(400, "reason: 5 to 500 printable characters")
    removed = watchlist.remove(
        watchlist_id, entry_id, actor=who.label, role=who.role.value, reason=text
    )
    if not removed:
        raise HTTPException(404, f"{watchlist_id}/{entry_id} is not on the watchlist")


def _enrol(
    store: WatchlistStore,
    entry: WatchlistEntry,
    pixels: np.ndarray,
    enrolment: Enrolment,
    role: str,
) -> int:
    """Enrol in a worker thread; the refusals as the HTTP answers they are."""
    try:
        with enrolment.lock:
            return enrol(
                store,
                entry,
                [("photo", pixels)],
                enrolment.encoder,
                enrolment.threshold,
                enrolment.min_face_px,
                role=role,
            )
    except EnrolmentError as err:
        raise HTTPException(422, str(err)) from None
    except WatchlistError as err:
        raise HTTPException(409, str(err)) from None
    except FaceModelsUnavailableError as err:
        raise HTTPException(503, str(err)) from None
