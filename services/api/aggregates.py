"""Traffic analytics for the ``traffic_analyst`` role: counts and flows, never tracks.

What leaves here is only numbers per (camera, class, time bucket) and per (from camera,
to camera, class): no track id, plate, crop or position. Any count below
``min_count`` is suppressed (``count: null``), so that a single car at night cannot be
singled out. The counting is pure; the router reads the store page by page.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from civicsight.auth import Permission
from civicsight.store import StoredTrack, TrackQuery, TrackStore
from services.api.auth_routes import audit
from services.api.security import Authed, require

MIN_COUNT = 5
MAX_WINDOW_S = 31 * 86_400
MAX_TRACKS = 200_000


class CountRow(BaseModel):
    camera: str
    cls: str
    bucket_start: float
    count: int | None = Field(description="tracks seen; null when below the suppression limit")


class FlowRow(BaseModel):
    from_camera: str
    to_camera: str
    cls: str
    count: int | None = Field(description="tracks that went from one camera to the next")


class Aggregates(BaseModel):
    since: float
    until: float
    min_count: int = Field(description="counts below this are suppressed (null)")
    counts: list[CountRow]
    flows: list[FlowRow]


def count_rows(tracks: Iterable[StoredTrack], bucket_s: float, min_count: int) -> list[CountRow]:
    counts: Counter[tuple[str, str, float]] = Counter()
    for t in tracks:
        start = (t.first_seen // bucket_s) * bucket_s
        for camera in set(t.cameras):
            counts[(camera, t.cls, start)] += 1
    return [
        CountRow(camera=c, cls=k, bucket_start=b, count=n if n >= min_count else None)
        for (c, k, b), n in sorted(counts.items())
    ]


def flow_rows(tracks: Iterable[StoredTrack], min_count: int) -> list[FlowRow]:
    flows: Counter[tuple[str, str, str]] = Counter()
    for t in tracks:
        for a, b in zip(t.cameras, t.cameras[1:], strict=False):
            if a != b:
                flows[(a, b, t.cls)] += 1
    return [
        FlowRow(from_camera=a, to_camera=b, cls=k, count=n if n >= min_count else None)
        for (a, b, k), n in sorted(flows.items())
    ]


def all_tracks(store: TrackStore, since: float, until: float) -> Iterator[StoredTrack]:
    cursor: str | None = None
    seen = 0
    while True:
        page = store.search(TrackQuery(since=since, until=until, limit=500, cursor=cursor))
        for t in page.items:
            seen += 1
            if seen > MAX_TRACKS:
                raise HTTPException(400, f"more than {MAX_TRACKS} tracks: shorten the window")
            yield t
        if page.next is None:
            return
        cursor = page.next


def aggregates_router(store: TrackStore) -> APIRouter:
    router = APIRouter(prefix="/api/aggregates", tags=["traffic"])

    @router.get("", response_model=Aggregates, dependencies=[require(Permission.AGGREGATES)])
    def aggregates(
        request: Request,
        who: Authed,
        since: Annotated[float, Query(ge=0, description="window start (Unix time)")],
        until: Annotated[float | None, Query(ge=0, description="window end; default now")] = None,
        bucket_s: Annotated[int, Query(ge=300, le=86_400, description="bucket length")] = 3600,
    ) -> Aggregates:
        end = until if until is not None else time.time()
        if end <= since or end - since > MAX_WINDOW_S:
            raise HTTPException(400, "the window must be positive and at most 31 days")
        tracks = list(all_tracks(store, since, end))
        audit(
            request,
            who.label,
            who.role.value,
            "aggregates.read",
            {"since": since, "until": end, "bucket_s": bucket_s},
        )
        return Aggregates(
            since=since,
            until=end,
            min_count=MIN_COUNT,
            counts=count_rows(tracks, bucket_s, MIN_COUNT),
            flows=flow_rows(tracks, MIN_COUNT),
        )

    return router
