"""Parameters several routes share: times, time windows, page sizes, ids, upload limits.

Times are Unix seconds, finite, from 1970 up to 2100: ``inf``, ``nan`` and ``1e309`` are
refused (400), so no window can be open-ended by accident. Every search covers at most
``max_window_days``; without ``since`` it covers the days before ``until`` (or now).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Form, HTTPException, Query
from fastapi import Path as PathParam

from civicsight.events import SLUG
from civicsight.store import MAX_PAGE

MAX_TIME = 4_102_444_800.0  # 2100-01-01T00:00:00Z
NO_STORE = {"Cache-Control": "no-store"}
"""Headers of an answer no cache may keep (frames, crops, case files)."""
JPEG_ANSWER: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}
"""The schema of a route that answers a JPEG."""


def time_query(description: str) -> Any:
    return Query(ge=0, le=MAX_TIME, allow_inf_nan=False, description=description)


def time_form(description: str) -> Any:
    return Form(ge=0, le=MAX_TIME, allow_inf_nan=False, description=description)


Since = Annotated[float | None, time_query("seen at or after (Unix seconds)")]
Until = Annotated[float | None, time_query("seen at or before (Unix seconds; default now)")]
SinceForm = Annotated[float | None, time_form("seen at or after (Unix seconds)")]
UntilForm = Annotated[float | None, time_form("seen at or before (Unix seconds; default now)")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description="at most this many")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="the 'next' of the previous page, unchanged")
]
CameraFilter = Annotated[str | None, Query(pattern=SLUG, description="only this camera")]
CameraPath = Annotated[str, PathParam(pattern=SLUG, description="camera id")]
TrackId = Annotated[str, PathParam(min_length=1, max_length=64, description="track id")]


@dataclass(frozen=True)
class SearchLimits:
    max_window_days: float = 31.0
    max_upload_bytes: int = 2 * 1024 * 1024
    max_image_side: int = 4096
    min_image_side: int = 16

    @property
    def upload_body_bytes(self) -> int:
        """A multipart body: the image plus its form fields and boundaries."""
        return self.max_upload_bytes + 64 * 1024


def window(
    since: float | None, until: float | None, limits: SearchLimits, now: float
) -> tuple[float, float | None]:
    """The searched time window (``until`` None: up to now, and what a camera with a fast
    clock stamped later); 400 when it is reversed or too long."""
    end = until if until is not None else now
    start = since if since is not None else max(0.0, end - limits.max_window_days * 86400)
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
