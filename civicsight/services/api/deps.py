"""The API's dependencies: what a route needs, read from the app it runs in.

Every route takes what it uses as an ``Annotated`` parameter (``store: Store``,
``trail: Audit``, ``who: Authed``), never from a closure or a global: the parts come from
the app's ``ApiState`` (``state.py``), set once by ``create_app``. So the routers are
plain module-level ``APIRouter``s, a test builds an app from real parts, and every
audited route holds the one audit log the app was built with (there is no app without
one).

The accessors are ``async``: they only read the state, so they run on the event loop
instead of taking a worker thread each.

Optional parts answer in words from their dependency, before the route runs: no alert
store, watchlist, enrolment models, bus or re-ID models on this hub is a 503; no password
sign-in is a 404. Role checks (``require``, a route dependency) still come first, so a role
that may not use a route learns nothing about the hub's parts.

``Authed`` (the caller) and ``Purposed`` (a search's case and purpose) are defined in
``security.py`` and re-exported here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import TokenStore
from civicsight.bus import Publisher
from civicsight.cameras import CameraConfig
from civicsight.retention import RetentionPolicy
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.feed import Feed
from civicsight.services.api.live import LiveView
from civicsight.services.api.params import CameraPath, SearchLimits
from civicsight.services.api.security import Authed, Purposed
from civicsight.services.api.state import ApiState, Enrolment, ImageEmbedder, api_state
from civicsight.store import TrackStore
from civicsight.traffic import TrafficSource
from civicsight.traffic_tables import Thresholds
from civicsight.users import UserStore
from civicsight.watchlist import WatchlistStore

__all__ = [
    "NO_ALERTS",
    "NO_PASSWORDS",
    "NO_WATCHLIST",
    "Alerts",
    "Audit",
    "Authed",
    "Bus",
    "Camera",
    "Cameras",
    "Disclosure",
    "Embedder",
    "Enrol",
    "EventFeed",
    "Limits",
    "Live",
    "MaybeUsers",
    "MaybeWatchlist",
    "Purposed",
    "Retention",
    "State",
    "Store",
    "Tokens",
    "Traffic",
    "Users",
    "Watchlist",
]

NO_ALERTS = "no alert store on this hub"
NO_WATCHLIST = "no watchlist store on this hub"
NO_PASSWORDS = "password sign-in is not enabled on this hub"


async def _state(conn: HTTPConnection) -> ApiState:
    return api_state(conn)


State = Annotated[ApiState, Depends(_state)]


async def _store(state: State) -> TrackStore:
    return state.store


async def _tokens(state: State) -> TokenStore:
    return state.tokens


async def _audit(state: State) -> AuditLog:
    return state.audit


async def _cameras(state: State) -> CameraRegistry:
    return state.cameras


Cameras = Annotated[CameraRegistry, Depends(_cameras)]


async def _camera(cameras: Cameras, camera_id: CameraPath) -> CameraConfig:
    cam = cameras.get(camera_id)
    if cam is None:
        raise HTTPException(404, f"unknown camera {camera_id!r}")
    return cam


async def _live(state: State) -> LiveView:
    return state.live


async def _feed(state: State) -> Feed:
    return state.feed


async def _limits(state: State) -> SearchLimits:
    return state.limits


async def _retention(state: State) -> RetentionPolicy:
    return state.retention


async def _maybe_users(state: State) -> UserStore | None:
    return state.users


async def _users(state: State) -> UserStore:
    if state.users is None:
        raise HTTPException(404, NO_PASSWORDS)
    return state.users


async def _bus(state: State) -> Publisher:
    if state.publisher is None:
        raise HTTPException(503, "corrections need the bus; this API has none")
    return state.publisher


async def _embedder(state: State) -> ImageEmbedder:
    if state.embedder is None:
        raise HTTPException(503, "image search needs the re-ID models; this API has none")
    return state.embedder


async def _alerts(state: State) -> AlertStore:
    if state.alerts is None:
        raise HTTPException(503, NO_ALERTS)
    return state.alerts


async def _maybe_watchlist(state: State) -> WatchlistStore | None:
    return state.watchlist


async def _watchlist(state: State) -> WatchlistStore:
    if state.watchlist is None:
        raise HTTPException(503, NO_WATCHLIST)
    return state.watchlist


async def _traffic(state: State) -> TrafficSource:
    return state.traffic if state.traffic is not None else state.store


async def _thresholds(state: State) -> Thresholds:
    return state.thresholds


async def _enrolment(state: State) -> Enrolment:
    if state.enrolment is None:
        raise HTTPException(503, "enrolment is not available on this hub (no face models)")
    return state.enrolment


Store = Annotated[TrackStore, Depends(_store)]
Tokens = Annotated[TokenStore, Depends(_tokens)]
Audit = Annotated[AuditLog, Depends(_audit)]
"""The app's audit log: always there (``ApiState`` cannot be made without it)."""
Camera = Annotated[CameraConfig, Depends(_camera)]
"""The camera of the route's ``{camera_id}`` as the registry holds it now; 404 if unknown."""
Live = Annotated[LiveView, Depends(_live)]
EventFeed = Annotated[Feed, Depends(_feed)]
Limits = Annotated[SearchLimits, Depends(_limits)]
Retention = Annotated[RetentionPolicy, Depends(_retention)]
Users = Annotated[UserStore, Depends(_users)]
"""The password users; 404 where sign-in is by token only."""
MaybeUsers = Annotated[UserStore | None, Depends(_maybe_users)]
Bus = Annotated[Publisher, Depends(_bus)]
Embedder = Annotated[ImageEmbedder, Depends(_embedder)]
Alerts = Annotated[AlertStore, Depends(_alerts)]
Watchlist = Annotated[WatchlistStore, Depends(_watchlist)]
MaybeWatchlist = Annotated[WatchlistStore | None, Depends(_maybe_watchlist)]
Enrol = Annotated[Enrolment, Depends(_enrolment)]
Traffic = Annotated[TrafficSource, Depends(_traffic)]
"""The traffic rows (raw: the routes protect them): the track store, or a stand-in."""
Disclosure = Annotated[Thresholds, Depends(_thresholds)]
"""The suppression thresholds the traffic tables are published with."""
