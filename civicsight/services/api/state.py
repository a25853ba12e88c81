"""What the API is built with: one frozen ``ApiState``, set once on ``app.state.api`` by
``create_app`` and read by the dependencies in ``deps.py``.

The audit log is required by construction: an ``ApiState`` without a real ``AuditLog``
cannot be made, so no app exists that could answer a search, a view or a change without
recording it. The optional parts (the password users, the bus, the re-ID models, the
alert store, the watchlist and its enrolment) may be None: the routes that need them
answer 503 (404 for password sign-in) from their dependency, in words.

Also here: the kinds of those optional parts that the API defines itself (the image
embedder, enrolment), and what each app keeps for itself while it runs (how many uploads
are decoded at once, the transparency figures' cache).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

import numpy as np
from starlette.requests import HTTPConnection

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import TokenStore
from civicsight.bus import Publisher
from civicsight.events import ObjectClass
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.feed import Feed
from civicsight.services.api.live import LiveView
from civicsight.services.api.params import SearchLimits
from civicsight.store import TrackStore
from civicsight.traffic import TrafficSource
from civicsight.traffic_tables import Thresholds
from civicsight.transparency import Transparency
from civicsight.users import UserStore
from civicsight.watchlist import FaceEncoding, WatchlistStore

STATIC_DIR = Path(__file__).parent / "static"
TRANSPARENCY_TTL_S = 60.0
"""The public figures are computed at most once a minute (``transparency_routes``)."""

T = TypeVar("T")


class ImageEmbedder(Protocol):
    """The re-ID service's embedding models, for one uploaded crop at a time."""

    def model_for(self, cls: ObjectClass) -> str | None:
        """The model label stored vectors of ``cls`` carry (None: not embedded)."""
        ...

    def embed(self, image: np.ndarray, cls: ObjectClass) -> np.ndarray: ...


class FaceModelsUnavailableError(RuntimeError):
    """The face models cannot be loaded on this hub (missing files); enrolment is off."""


@dataclass
class Enrolment:
    """What enrolment in the API needs: the faces service's models (``encoder``) and the
    threshold and least face size it matches with (``civicsight.watchlist.
    FaceMatchSettings``). One enrolment at a time: the detector is not thread-safe."""

    encoder: FaceEncoding
    threshold: float
    min_face_px: int
    lock: threading.Lock = field(default_factory=threading.Lock)


class Cached(Generic[T]):
    """One value, computed again when older than ``ttl_s`` (monotonic clock); callers
    that arrive while it is computed wait for that one computation."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = 0.0

    def get(self, compute: Callable[[], T]) -> T:
        with self._lock:
            if self._value is None or self.clock() - self._at >= self.ttl_s:
                self._value = compute()
                self._at = self.clock()
            return self._value


class MissingAuditLogError(TypeError):
    """An API without an audit log was asked for: there is no such thing."""


@dataclass(frozen=True, eq=False)
class ApiState:
    """Everything the routes use. Required: the track store, the tokens and the audit
    log. ``cameras``: the camera registry (with its folder, rules and analytics can be
    saved); ``live``: the newest frames and rule hits; ``feed``: the control room's event
    feed and service health; ``users``: password sign-in (None: tokens only);
    ``publisher``: the bus, for corrections; ``embedder``: the re-ID models, for image
    search; ``alerts``, ``watchlist``, ``enrolment``: the alert store, the face
    watchlist and the face models that enrol into it; ``limits``: search windows and
    uploads; ``retention``: the policy in force; ``static_dir``: the web app;
    ``traffic``: the traffic rows (None: the track store, which keeps them);
    ``thresholds``: the traffic tables' suppression thresholds."""

    store: TrackStore
    tokens: TokenStore
    audit: AuditLog
    cameras: CameraRegistry = field(default_factory=CameraRegistry)
    live: LiveView = field(default_factory=LiveView)
    feed: Feed = field(default_factory=Feed)
    users: UserStore | None = None
    publisher: Publisher | None = None
    embedder: ImageEmbedder | None = None
    alerts: AlertStore | None = None
    watchlist: WatchlistStore | None = None
    enrolment: Enrolment | None = None
    limits: SearchLimits = field(default_factory=SearchLimits)
    retention: RetentionPolicy = DEFAULT_POLICY
    static_dir: Path = STATIC_DIR
    traffic: TrafficSource | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    # what the app keeps while it runs
    search_uploads: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(2), init=False, repr=False
    )
    """image searches decoded and embedded at once: a burst of large uploads cannot take
    every worker thread or the memory for many decoded images"""
    enrol_uploads: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(1), init=False, repr=False
    )
    """watchlist photos decoded and enrolled at once"""
    transparency: Cached[Transparency] = field(
        default_factory=lambda: Cached(TRANSPARENCY_TTL_S), init=False, repr=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.audit, AuditLog):
            raise MissingAuditLogError(
                "the API needs its audit log (civicsight.audit.AuditLog): every search, "
                f"view and change is recorded, so there is no API without one; got {self.audit!r}"
            )
        for name, part in (("alerts", self.alerts), ("watchlist", self.watchlist)):
            if part is not None and part.audit is not self.audit:
                raise MissingAuditLogError(
                    f"{name}: the store must record into the API's own audit log"
                )
        if not isinstance(self.cameras, CameraRegistry):
            raise TypeError("cameras: a CameraRegistry (one list every route shares)")


def api_state(conn: HTTPConnection) -> ApiState:
    """The state of the app serving this request or socket (set by ``create_app``)."""
    state = getattr(conn.app.state, "api", None)
    if not isinstance(state, ApiState):
        raise RuntimeError("this app was not built by create_app: it has no ApiState")
    return state
