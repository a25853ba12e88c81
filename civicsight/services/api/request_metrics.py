"""How long the API takes to answer: an ASGI middleware, outermost, that observes each
HTTP request's seconds as ``civicsight_api_request_seconds`` by route *template*
(``/api/tracks/{track_id}``, never the path asked for, which may hold a track id or a
search), method and status class (``2xx``...). A request no route matched (404, a Host
refused) is ``unmatched``. WebSockets are not timed (a live tile stays open for minutes).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicsight.metric_names import API_REQUEST_SECONDS, status_class
from civicsight.runtime import Metrics

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(scope: Scope) -> str:
    """The template of the route that answered (set on the scope by the router)."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    """Times every HTTP request through ``app`` into ``metrics``."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]  # an exception with no response sent counts as a server error

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope.get("method", "GET")
            self.metrics.observe(
                API_REQUEST_SECONDS,
                time.perf_counter() - started,
                route=route_label(scope),
                method=method if method in METHODS else "other",
                status=status_class(status[0]),
            )
