"""Watchlist alerts: the pure lifecycle (no clock, no storage; ``alert_store`` keeps them).

A face match raises an alert in state ``new``. It becomes ``confirmed`` only when two
different people have confirmed it (the four-eyes rule of EU AI Act Art. 14(5) for
remote biometric identification); the same person confirming twice is refused. Anyone
reviewing it may instead ``dismiss`` it, with a reason. ``confirmed`` and ``dismissed``
are final. Further matches of the same track on the same entry update the alert (last
seen, best score) instead of raising new ones.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from civicsight.events import CameraId, FaceObservation, Score, Seconds

AlertState = Literal["new", "confirmed", "dismissed"]
CONFIRMATIONS_NEEDED = 2


class AlertError(ValueError):
    """A step the alert's state does not allow; the message says why."""


class Confirmation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    user: str = Field(min_length=1, max_length=120)
    at: Seconds


class Alert(BaseModel):
    """One watchlist match on one track, and what reviewers decided about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    alert_id: str = Field(pattern=r"^a-[0-9a-f]{16}$")
    camera_id: CameraId
    track_id: int = Field(ge=0)
    watchlist_id: str = Field(min_length=1, max_length=64)
    entry_id: str = Field(min_length=1, max_length=64)
    score: Score
    threshold: Score | None = Field(
        None, description="the match threshold the faces service used (None: not recorded)"
    )
    first_at: Seconds
    last_at: Seconds
    state: AlertState = "new"
    confirmations: tuple[Confirmation, ...] = ()
    dismissed_by: str | None = None
    dismissed_at: Seconds | None = None
    dismiss_reason: str | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Alert:
        users = [c.user for c in self.confirmations]
        if len(set(users)) != len(users):
            raise ValueError("one user confirmed twice")
        if (self.state == "confirmed") != (len(set(users)) >= CONFIRMATIONS_NEEDED):
            raise ValueError(f"confirmed means {CONFIRMATIONS_NEEDED} different users confirmed")
        if (self.state == "dismissed") != (self.dismissed_by is not None):
            raise ValueError("dismissed means dismissed_by is set")
        return self


def alert_id_for(camera_id: str, track_id: int, watchlist_id: str, entry_id: str) -> str:
    """Deterministic, so a redelivered match never raises a second alert."""
    key = f"{camera_id}|{track_id}|{watchlist_id}|{entry_id}"
    return "a-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def raise_alert(obs: FaceObservation) -> Alert:
    return Alert(
        alert_id=alert_id_for(obs.camera_id, obs.track_id, obs.watchlist_id, obs.entry_id),
        camera_id=obs.camera_id,
        track_id=obs.track_id,
        watchlist_id=obs.watchlist_id,
        entry_id=obs.entry_id,
        score=obs.score,
        threshold=obs.threshold,
        first_at=obs.captured_at,
        last_at=obs.captured_at,
    )


def seen_again(alert: Alert, obs: FaceObservation) -> Alert:
    """The alert after another match of the same track and entry: seen over a longer
    time, and with the better match's score and threshold (``better_match``)."""
    best = better_match(alert, obs)
    return alert.model_copy(
        update={
            "score": obs.score if best else alert.score,
            "threshold": obs.threshold if best else alert.threshold,
            "first_at": min(alert.first_at, obs.captured_at),
            "last_at": max(alert.last_at, obs.captured_at),
        }
    )


def better_match(alert: Alert, obs: FaceObservation) -> bool:
    """Whether ``obs`` replaces the alert's evidence (its score, threshold and the face
    kept for review): a better match, while nobody has reviewed the alert yet. Once
    someone has confirmed or dismissed it, the evidence they saw stays as it was, so a
    second reviewer decides on the same face as the first."""
    return obs.score > alert.score and alert.state == "new" and not alert.confirmations


def _check_reviewer(alert: Alert, user: str) -> None:
    if not user.strip() or not user.isprintable():
        raise AlertError("the reviewer's name must be printable text")
    if alert.state != "new":
        raise AlertError(f"alert {alert.alert_id} is already {alert.state}")


def confirm(alert: Alert, user: str, at: float) -> Alert:
    """``user`` confirms the match; the second different user makes it ``confirmed``."""
    _check_reviewer(alert, user)
    if user in {c.user for c in alert.confirmations}:
        raise AlertError(
            f"{user} already confirmed alert {alert.alert_id}; a different person must confirm it"
        )
    confirmations = (*alert.confirmations, Confirmation(user=user, at=at))
    state: AlertState = "confirmed" if len(confirmations) >= CONFIRMATIONS_NEEDED else "new"
    return alert.model_copy(update={"confirmations": confirmations, "state": state})


def dismiss(alert: Alert, user: str, at: float, reason: str) -> Alert:
    """``user`` rejects the match (a false match, or no longer relevant)."""
    _check_reviewer(alert, user)
    if not reason.strip() or not reason.isprintable() or len(reason) > 500:
        raise AlertError("a dismissal needs a reason (printable, at most 500 characters)")
    return Alert.model_validate(
        {
            **alert.model_dump(),
            "state": "dismissed",
            "dismissed_by": user,
            "dismissed_at": at,
            "dismiss_reason": reason,
        }
    )
