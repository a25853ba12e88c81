"""The public transparency page: ``GET /transparency`` (a static page) and its data,
``GET /api/transparency`` (JSON, ``civicsight.transparency.Transparency``). Both answer
without credentials: they hold aggregates only (see ``civicsight.transparency`` for what
is published and what never is).

A public route must not let anyone make the API scan the audit log many times a second:
the figures are computed at most once per ``ttl_s`` (60 s) and served from memory in
between; requests that arrive while they are computed wait for that one computation.
Reading the page is not audited: it is public, and an entry per anonymous request would
let anyone flood the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from civicsight.cameras import CameraConfig
from civicsight.retention import RetentionPolicy
from civicsight.services.api.auth_routes import audit_log
from civicsight.transparency import Transparency, from_log

TTL_S = 60.0
PUBLIC_CACHE = "public, max-age=60"
T = TypeVar("T")


class Cached(Generic[T]):
    """One value, computed again when older than ``ttl_s`` (monotonic clock)."""

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


def transparency_router(
    cameras: Sequence[CameraConfig],
    policy: RetentionPolicy,
    static_dir: Path,
    ttl_s: float = TTL_S,
) -> APIRouter:
    """The routes over ``cameras`` (the list the API serves, as it changes) and the
    retention ``policy`` in force; the page is ``static_dir/transparency.html``."""
    router = APIRouter(tags=["public"])
    cache: Cached[Transparency] = Cached(ttl_s)

    @router.get("/api/transparency", response_model=Transparency)
    def transparency(request: Request, response: Response) -> Transparency:
        """Aggregates for the public: no sign-in. Counts from 1 to 4 read "< 5"."""
        log = audit_log(request)
        response.headers["Cache-Control"] = PUBLIC_CACHE
        return cache.get(lambda: from_log(log, list(cameras), policy, time.time()))

    @router.get("/transparency", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(static_dir / "transparency.html", media_type="text/html")

    return router
