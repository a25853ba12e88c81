"""Operators' corrections of cross-camera tracks: merge two tracks, or split tracklets off.

A correction is published to ``track_corrections`` (one partition, so in the order made)
with the user and the reason; the stream app's join applies it and never lets a later
automatic decision undo it. Each one is audited (``track.merge`` / ``track.split``). The
answer is 202: the new track versions follow through the store as the join emits them.
An API without the bus answers 503.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from civicsight.audit import AuditLog
from civicsight.auth import Permission
from civicsight.bus import Publisher
from civicsight.events import SLUG, TrackCorrection
from civicsight.services.api.deps import Audit, Authed, Bus
from civicsight.services.api.params import TrackId
from civicsight.services.api.security import require

TRACKLET = SLUG.removesuffix("$") + r"/[0-9]{1,19}$"
"""A tracklet id: camera id / tracker id."""

router = APIRouter(
    prefix="/api/tracks", tags=["tracks"], dependencies=[require(Permission.CORRECT)]
)


class Merge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_track_id: str = Field(min_length=1, max_length=64, description="the track to merge in")
    reason: str = Field(min_length=5, max_length=1000, description="why (kept in the audit log)")


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracklets: list[Annotated[str, Field(pattern=TRACKLET)]] = Field(
        min_length=1, max_length=100, description="tracklets (camera/id) that are another object"
    )
    reason: str = Field(min_length=5, max_length=1000, description="why (kept in the audit log)")


def send(
    bus: Publisher, trail: AuditLog, correction: TrackCorrection, role: str
) -> TrackCorrection:
    bus.publish("track_corrections", correction.track_id, correction)
    bus.flush(10)
    details = {
        "track": correction.track_id,
        "other_track": correction.other_track_id,
        "tracklets": list(correction.tracklets),
        "reason": correction.reason,
    }
    trail.append(correction.user, role, f"track.{correction.action}", details)
    return correction


@router.post("/{track_id}/merge", status_code=202, response_model=TrackCorrection)
def merge(
    bus: Bus, trail: Audit, who: Authed, track_id: TrackId, body: Annotated[Merge, Body()]
) -> TrackCorrection:
    if body.other_track_id == track_id:
        raise HTTPException(400, "other_track_id: a track cannot merge with itself")
    correction = TrackCorrection(
        action="merge",
        track_id=track_id,
        other_track_id=body.other_track_id,
        user=who.label,
        reason=body.reason.strip(),
        decided_at=time.time(),
    )
    return send(bus, trail, correction, who.role.value)


@router.post("/{track_id}/split", status_code=202, response_model=TrackCorrection)
def split(
    bus: Bus, trail: Audit, who: Authed, track_id: TrackId, body: Annotated[Split, Body()]
) -> TrackCorrection:
    correction = TrackCorrection(
        action="split",
        track_id=track_id,
        tracklets=tuple(dict.fromkeys(body.tracklets)),
        user=who.label,
        reason=body.reason.strip(),
        decided_at=time.time(),
    )
    return send(bus, trail, correction, who.role.value)
