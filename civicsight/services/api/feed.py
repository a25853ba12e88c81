"""The control room's live event feed and service health, fed from the bus.

``Feed`` is pure and thread-safe: the live feed's thread offers it events (rule hits, track
updates, watchlist matches, heartbeats) and request handlers and WebSockets read it.

- New global tracks (the first version of a ``g-`` track), rule hits and watchlist alerts
  (the first match of each alert) become numbered ``FeedItem``s in one ring, newest
  ``size`` kept, read with a cursor (``services.api.recent``).
- Each item says what a reader needs to see it: rule hits and tracks need ``live``,
  alerts need ``alerts``; a track's id is shown only to roles that may search. A viewer
  on the wall sees "new car on Harbour Road", never whom a watchlist matched.
- ``HealthBoard`` keeps the newest heartbeat of each process and says per service whether
  it is ``ok`` (heard within three intervals), ``late`` or ``down`` (silent a minute or
  more), with what it handled and how far behind its inputs it is.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from civicsight.alerts import alert_id_for
from civicsight.auth import Permission, Principal, may
from civicsight.events import Event, FaceObservation, Heartbeat, RuleHit, TrackUpdate
from civicsight.services.api.recent import Page, Recent

FEED_KEPT = 300
DOWN_AFTER_S = 60.0
FORGET_AFTER_S = 600.0


class FeedItem(BaseModel):
    """One line of the control room's event feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["track", "rule_hit", "alert"]
    at: float = Field(description="capture time of what happened")
    camera_id: str | None = None
    cls: str | None = None
    text: str = Field(description="what happened, in words")
    track_id: str | None = Field(None, description="global track (roles that may search)")
    alert_id: str | None = Field(None, description="watchlist alert (roles that review alerts)")
    rule_id: str | None = None
    needs: Permission = Field(description="what a reader's role needs to see this item")

    def for_reader(self, who: Principal) -> FeedItem | None:
        """The item as ``who`` may see it, or None."""
        if not may(who.role, self.needs):
            return None
        if self.track_id and not may(who.role, Permission.SEARCH):
            return self.model_copy(update={"track_id": None})
        return self


def track_item(update: TrackUpdate) -> FeedItem | None:
    """A new global track: its first version (later versions revise it)."""
    if not update.track_id.startswith("g-") or update.version != 1 or update.merged_into:
        return None
    cameras = list(dict.fromkeys(t.camera_id for t in update.tracklets))
    return FeedItem(
        type="track",
        at=update.first_seen,
        camera_id=cameras[0] if cameras else None,
        cls=update.cls,
        text=f"new {update.cls} track",
        track_id=update.track_id,
        needs=Permission.LIVE,
    )


def rule_hit_item(hit: RuleHit) -> FeedItem:
    what = (
        f"{hit.cls} crossed {hit.rule_id}" + (f" ({hit.direction})" if hit.direction else "")
        if hit.action == "cross"
        else f"{hit.cls} {'entered' if hit.action == 'enter' else 'left'} {hit.rule_id}"
        + (f" after {hit.dwell_s:.0f} s" if hit.dwell_s is not None else "")
    )
    return FeedItem(
        type="rule_hit",
        at=hit.captured_at,
        camera_id=hit.camera_id,
        cls=hit.cls,
        text=what,
        rule_id=hit.rule_id,
        needs=Permission.LIVE,
    )


def alert_item(obs: FaceObservation) -> FeedItem:
    return FeedItem(
        type="alert",
        at=obs.captured_at,
        camera_id=obs.camera_id,
        cls="person",
        text=f"watchlist match ({obs.watchlist_id}), score {obs.score:.2f} "
        f"(threshold {obs.threshold:.2f}): review it",
        alert_id=alert_id_for(obs.camera_id, obs.track_id, obs.watchlist_id, obs.entry_id),
        needs=Permission.ALERTS,
    )


class ServiceHealth(BaseModel):
    """How one service of the hub is doing (all its processes together)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    service: str
    state: Literal["ok", "late", "down"]
    instances: int = Field(description="processes heard from")
    last_heartbeat_at: float
    age_s: float = Field(description="seconds since the newest heartbeat")
    processed: int = Field(description="events handled by its live processes since they started")
    lag: dict[str, int] = Field(description="messages waiting per input topic")


class HealthBoard:
    """The newest heartbeat of each process (thread-safe)."""

    def __init__(self) -> None:
        self._beats: dict[tuple[str, str], Heartbeat] = {}
        self._lock = threading.Lock()

    def offer(self, beat: Heartbeat) -> None:
        with self._lock:
            key = (beat.service, beat.instance)
            old = self._beats.get(key)
            if old is None or beat.at >= old.at:
                self._beats[key] = beat

    def services(self, now: float) -> list[ServiceHealth]:
        with self._lock:
            for key in [k for k, b in self._beats.items() if now - b.at > FORGET_AFTER_S]:
                del self._beats[key]
            beats = list(self._beats.values())
        out: list[ServiceHealth] = []
        for service in sorted({b.service for b in beats}):
            mine = [b for b in beats if b.service == service]
            newest = max(mine, key=lambda b: b.at)
            age = max(0.0, now - newest.at)
            alive = [b for b in mine if now - b.at < DOWN_AFTER_S]
            lag: dict[str, int] = {}
            for b in alive:
                for t, n in b.lag.items():
                    lag[t] = lag.get(t, 0) + n
            state: Literal["ok", "late", "down"] = (
                "ok" if age <= 3 * newest.interval_s else "late" if age < DOWN_AFTER_S else "down"
            )
            out.append(
                ServiceHealth(
                    service=service,
                    state=state,
                    instances=len(alive),
                    last_heartbeat_at=newest.at,
                    age_s=round(age, 1),
                    processed=sum(b.processed for b in alive),
                    lag=lag,
                )
            )
        return out


class Feed:
    """Feed items and service health (see the module docstring)."""

    def __init__(self, size: int = FEED_KEPT, clock: Callable[[], float] = time.time) -> None:
        self.items: Recent[FeedItem] = Recent(size)
        self.health = HealthBoard()
        self._clock = clock
        self._alerts_seen: OrderedDict[str, None] = OrderedDict()

    def offer(self, event: Event) -> None:
        item: FeedItem | None = None
        if isinstance(event, Heartbeat):
            self.health.offer(event)
        elif isinstance(event, RuleHit):
            item = rule_hit_item(event)
        elif isinstance(event, TrackUpdate):
            item = track_item(event)
        elif isinstance(event, FaceObservation):
            item = alert_item(event)
            assert item.alert_id is not None
            if item.alert_id in self._alerts_seen:  # the same track matched again
                return
            self._alerts_seen[item.alert_id] = None
            while len(self._alerts_seen) > 10 * self.items.size:
                self._alerts_seen.popitem(last=False)
        if item is not None:
            self.items.add(item)

    def after(self, cursor: int, who: Principal, limit: int = 100) -> Page[FeedItem]:
        """The items after ``cursor`` that ``who`` may see (as they may see them)."""
        page = self.items.after(cursor, limit)
        shown = [s for s in (i.for_reader(who) for i in page.items) if s is not None]
        return Page(items=shown, cursor=page.cursor, missed=page.missed)
