"""Watchlist alerts for the people who review them (``alerts``: operators, investigators),
and which cameras match faces at all.

- ``GET /api/alerts?state=``: the queue, newest first, with what a reviewer needs: camera,
  score against threshold, first and last seen, who confirmed and when, and whether the
  caller already confirmed (the four-eyes rule: a different person must confirm next).
- ``GET /api/alerts/{id}/crop.jpg``: the face the faces service matched (cut from its
  crop with a margin);
  ``GET /api/alerts/{id}/reference.jpg``: the enrolled face of the matched entry. Each
  view is audited (``alert.view``: the alert and which image, never the person's name).
- ``POST /api/alerts/{id}/confirm``, ``POST /api/alerts/{id}/dismiss`` (``{"reason"}``):
  by the signed-in user, audited by the alert store with that user and role. The same
  person confirming twice gets 409 with the rule in words.
- ``GET /api/faces/cameras`` (``alerts`` or ``watchlist``): the cameras whose file turns
  faces on, with purpose and legal basis, read from the camera files as the faces service
  reads them (``CameraRegistry.on_disk``; a folder that does not load means faces are off
  everywhere; without a folder, the registry's cameras).

The person's name (the entry's label) is shown only to roles that manage the watchlist.
Without an alert store (a test app, a hub without faces) the alert routes answer 503.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from civicsight.alert_store import AlertStore
from civicsight.alerts import CONFIRMATIONS_NEEDED, Alert, AlertError, AlertState
from civicsight.audit import AuditLog
from civicsight.auth import Permission, Principal, may
from civicsight.cameras import CameraConfig, CameraConfigError
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.deps import Alerts, Audit, Authed, Cameras, MaybeWatchlist
from civicsight.services.api.params import JPEG_ANSWER, NO_STORE
from civicsight.services.api.security import require, require_any
from civicsight.watchlist import WatchlistEntry, WatchlistStore

AlertPath = Annotated[str, PathParam(pattern=r"^a-[0-9a-f]{16}$", description="alert id")]

router = APIRouter(tags=["alerts"])
reviewers = require(Permission.ALERTS)


class ConfirmationOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    user: str = Field(description="who confirmed")
    at: float = Field(description="when (Unix seconds)")


class AlertOut(BaseModel):
    """One alert as a reviewer sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    alert_id: str
    camera_id: str
    camera_name: str = Field(description="the camera's name (its id when it is not known)")
    track_id: int
    watchlist_id: str
    entry_id: str = Field(description="opaque watchlist entry id")
    case_id: str | None = Field(description="the entry's case; null once it left the watchlist")
    label: str | None = Field(
        description="who the entry is (name or alias): only for roles that manage the "
        "watchlist, else null"
    )
    score: float = Field(description="match score, 0..1 (1 - distance / threshold)")
    threshold: float | None = Field(description="L2 distance threshold of the match")
    first_at: float
    last_at: float
    state: AlertState
    confirmations: list[ConfirmationOut]
    confirmations_needed: int = Field(description="different people needed to confirm")
    confirmed_by_you: bool = Field(description="the caller already confirmed this alert")
    dismissed_by: str | None
    dismissed_at: float | None
    dismiss_reason: str | None
    has_face: bool = Field(description="the matched face is kept (crop.jpg)")
    has_reference: bool = Field(description="the enrolled photo is kept (reference.jpg)")


class AlertList(BaseModel):
    items: list[AlertOut] = Field(description="newest first")
    counts: dict[str, int] = Field(description="alerts in each state (all of them)")


class Dismissal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    reason: str = Field(min_length=5, max_length=500, description="why the match is dismissed")


class FacesCamera(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    camera_id: str
    name: str
    purpose: str = Field(description="why faces are matched on this camera")
    legal_basis: str = Field(description="the law or decision that permits it")


class FacesCameras(BaseModel):
    cameras: list[FacesCamera] = Field(description="cameras with faces on")
    faces_off: int = Field(description="cameras with faces off (the default)")
    problem: str | None = Field(description="why no camera matches faces, when it is a fault")


def faces_cameras(configs: Sequence[CameraConfig]) -> FacesCameras:
    """The cameras with faces on (pure)."""
    on = [c for c in configs if c.analytics.faces]
    return FacesCameras(
        cameras=[
            FacesCamera(
                camera_id=c.id,
                name=c.name,
                purpose=c.analytics.faces_purpose or "",
                legal_basis=c.analytics.faces_legal_basis or "",
            )
            for c in sorted(on, key=lambda c: c.name)
        ],
        faces_off=len(configs) - len(on),
        problem=None,
    )


def alert_out(
    alert: Alert,
    who: Principal,
    names: dict[str, str],
    entries: dict[tuple[str, str], WatchlistEntry],
    faces: set[str],
    references: set[tuple[str, str]],
) -> AlertOut:
    """The alert as ``who`` may see it (pure)."""
    key = (alert.watchlist_id, alert.entry_id)
    entry = entries.get(key)
    return AlertOut(
        alert_id=alert.alert_id,
        camera_id=alert.camera_id,
        camera_name=names.get(alert.camera_id, alert.camera_id),
        track_id=alert.track_id,
        watchlist_id=alert.watchlist_id,
        entry_id=alert.entry_id,
        case_id=entry.case_id if entry else None,
        label=entry.label if entry and may(who.role, Permission.WATCHLIST) else None,
        score=alert.score,
        threshold=alert.threshold,
        first_at=alert.first_at,
        last_at=alert.last_at,
        state=alert.state,
        confirmations=[ConfirmationOut(user=c.user, at=c.at) for c in alert.confirmations],
        confirmations_needed=CONFIRMATIONS_NEEDED,
        confirmed_by_you=any(c.user == who.label for c in alert.confirmations),
        dismissed_by=alert.dismissed_by,
        dismissed_at=alert.dismissed_at,
        dismiss_reason=alert.dismiss_reason,
        has_face=alert.alert_id in faces,
        has_reference=key in references,
    )


def found(alerts: AlertStore, alert_id: str) -> Alert:
    alert = alerts.get(alert_id)
    if alert is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return alert


def shown_all(
    items: list[Alert],
    who: Principal,
    alerts: AlertStore,
    watchlist: WatchlistStore | None,
    cameras: CameraRegistry,
) -> list[AlertOut]:
    """The alerts as ``who`` may see them, with the watchlist's cases and photos (labels
    for the roles that manage it) and the registry's camera names."""
    entries = {(e.watchlist_id, e.entry_id): e for e, _ in watchlist.entries()} if watchlist else {}
    references = watchlist.with_reference() if watchlist else set()
    names = {c.id: c.name for c in cameras.all()}
    faces = alerts.with_face()
    return [alert_out(a, who, names, entries, faces, references) for a in items]


def jpeg(trail: AuditLog, who: Principal, alert: Alert, image: str, data: bytes) -> Response:
    details = {"alert_id": alert.alert_id, "image": image}
    trail.append(who.label, who.role.value, "alert.view", details)
    return Response(data, media_type="image/jpeg", headers=NO_STORE)


@router.get("/api/alerts", response_model=AlertList, dependencies=[reviewers])
def list_alerts(
    alerts: Alerts,
    watchlist: MaybeWatchlist,
    cameras: Cameras,
    who: Authed,
    state: Annotated[AlertState | None, Query(description="only alerts in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many")] = 200,
) -> AlertList:
    items = alerts.alerts(state)
    items.sort(key=lambda a: (a.first_at, a.alert_id), reverse=True)
    shown = shown_all(items[:limit], who, alerts, watchlist, cameras)
    return AlertList(items=shown, counts=alerts.counts())


@router.get(
    "/api/alerts/{alert_id}/crop.jpg",
    response_class=Response,
    responses=JPEG_ANSWER,
    dependencies=[reviewers],
)
def alert_face(alerts: Alerts, trail: Audit, who: Authed, alert_id: AlertPath) -> Response:
    alert = found(alerts, alert_id)
    data = alerts.face(alert_id)
    if data is None:
        raise HTTPException(404, "this alert keeps no face (raised before faces were kept)")
    return jpeg(trail, who, alert, "crop", data)


@router.get(
    "/api/alerts/{alert_id}/reference.jpg",
    response_class=Response,
    responses=JPEG_ANSWER,
    dependencies=[reviewers],
)
def alert_reference(
    alerts: Alerts, watchlist: MaybeWatchlist, trail: Audit, who: Authed, alert_id: AlertPath
) -> Response:
    alert = found(alerts, alert_id)
    data = watchlist.reference(alert.watchlist_id, alert.entry_id) if watchlist else None
    if data is None:
        raise HTTPException(
            404,
            "no enrolled photo: the entry left the watchlist (removed or expired) or was "
            "enrolled without one",
        )
    return jpeg(trail, who, alert, "reference", data)


@router.post("/api/alerts/{alert_id}/confirm", response_model=AlertOut, dependencies=[reviewers])
def confirm(
    alerts: Alerts, watchlist: MaybeWatchlist, cameras: Cameras, who: Authed, alert_id: AlertPath
) -> AlertOut:
    found(alerts, alert_id)
    try:
        alert = alerts.confirm(alert_id, who.label, who.role.value, time.time())
    except AlertError as err:
        raise HTTPException(409, str(err)) from None
    return shown_all([alert], who, alerts, watchlist, cameras)[0]


@router.post("/api/alerts/{alert_id}/dismiss", response_model=AlertOut, dependencies=[reviewers])
def dismiss(
    alerts: Alerts,
    watchlist: MaybeWatchlist,
    cameras: Cameras,
    who: Authed,
    alert_id: AlertPath,
    body: Annotated[Dismissal | None, Body()] = None,
) -> AlertOut:
    found(alerts, alert_id)
    reason = body.reason.strip() if body is not None else ""
    if len(reason) < 5 or not reason.isprintable():
        raise HTTPException(
            400, "reason: a dismissal needs a reason of 5 to 500 printable characters"
        )
    try:
        alert = alerts.dismiss(alert_id, who.label, who.role.value, time.time(), reason)
    except AlertError as err:
        raise HTTPException(409, str(err)) from None
    return shown_all([alert], who, alerts, watchlist, cameras)[0]


@router.get(
    "/api/faces/cameras",
    response_model=FacesCameras,
    dependencies=[require_any(Permission.ALERTS, Permission.WATCHLIST)],
)
def cameras_with_faces(cameras: Cameras) -> FacesCameras:
    try:
        configs = cameras.on_disk()
    except CameraConfigError:
        return FacesCameras(
            cameras=[],
            faces_off=len(cameras),
            problem="the camera files do not load, so the faces service matches faces on "
            "no camera until they are fixed (its log says why)",
        )
    return faces_cameras(configs if configs is not None else cameras.all())
