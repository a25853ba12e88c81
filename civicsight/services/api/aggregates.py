"""Traffic analytics for the ``traffic_analyst`` role: counts and flows, never tracks.

What leaves here is only numbers per (camera, class, time bin) and per (from camera,
to camera, class): no track id, plate, crop or position. Any count below
``min_count`` is suppressed (``count: null``), so that a single car at night cannot be
singled out, and every answer covers whole, aligned, settled bins of at least 15 minutes
(``civicsight.disclosure``): moving a window by seconds changes nothing, so no suppressed
vehicle can be pinned down by differencing two answers. A track counts in the bin of its
first sighting. The counting is pure; the router reads the store page by page.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from civicsight.auth import Permission
from civicsight.disclosure import (
    ALLOWED_BINS_S,
    MIN_COUNT,
    BinError,
    Window,
    published_window,
    suppress,
)
from civicsight.services.api.deps import Audit, Authed, Store
from civicsight.services.api.params import time_query
from civicsight.services.api.security import require
from civicsight.store import MAX_PAGE, StoredTrack, TrackQuery, TrackStore

MAX_WINDOW_S = 31 * 86_400
MAX_TRACKS = 200_000

router = APIRouter(prefix="/api/aggregates", tags=["traffic"])


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
    since: float = Field(description="start of the first bin answered")
    until: float = Field(description="end of the last whole, settled bin answered")
    min_count: int = Field(description="counts below this are suppressed (null)")
    counts: list[CountRow]
    flows: list[FlowRow]


def in_window(tracks: Iterable[StoredTrack], win: Window) -> Iterator[StoredTrack]:
    """The tracks first seen inside the window's bins (a track that only overlaps the
    window's start belongs to an earlier bin, which this answer does not publish)."""
    return (t for t in tracks if win.bin_of(t.first_seen) is not None)


def count_rows(tracks: Iterable[StoredTrack], win: Window, min_count: int) -> list[CountRow]:
    counts: Counter[tuple[str, str, float]] = Counter()
    for t in in_window(tracks, win):
        start = win.bin_of(t.first_seen)
        assert start is not None
        for camera in set(t.cameras):
            counts[(camera, t.cls, start)] += 1
    return [
        CountRow(camera=c, cls=k, bucket_start=b, count=suppress(n, min_count))
        for (c, k, b), n in sorted(counts.items())
    ]


def flow_rows(tracks: Iterable[StoredTrack], min_count: int) -> list[FlowRow]:
    flows: Counter[tuple[str, str, str]] = Counter()
    for t in tracks:
        for a, b in zip(t.cameras, t.cameras[1:], strict=False):
            if a != b:
                flows[(a, b, t.cls)] += 1
    return [
        FlowRow(from_camera=a, to_camera=b, cls=k, count=suppress(n, min_count))
        for (a, b, k), n in sorted(flows.items())
    ]


def all_tracks(store: TrackStore, since: float, until: float) -> Iterator[StoredTrack]:
    cursor: str | None = None
    seen = 0
    while True:
        page = store.search(TrackQuery(since=since, until=until, limit=MAX_PAGE, cursor=cursor))
        for t in page.items:
            seen += 1
            if seen > MAX_TRACKS:
                raise HTTPException(400, f"more than {MAX_TRACKS} tracks: shorten the window")
            yield t
        if page.next is None:
            return
        cursor = page.next


@router.get("", response_model=Aggregates, dependencies=[require(Permission.AGGREGATES)])
def aggregates(
    store: Store,
    trail: Audit,
    who: Authed,
    since: Annotated[float, time_query("window start (Unix seconds; widened to its bin)")],
    until: Annotated[
        float | None, time_query("window end (Unix seconds; default now; cut to whole bins)")
    ] = None,
    bucket_s: Annotated[
        int, Query(description=f"bin length in seconds, one of {ALLOWED_BINS_S}")
    ] = 3600,
) -> Aggregates:
    end = until if until is not None else time.time()
    if end <= since or end - since > MAX_WINDOW_S:
        raise HTTPException(400, "the window must be positive and at most 31 days")
    try:
        win = published_window(since, end, bucket_s, time.time())
    except BinError as err:
        raise HTTPException(400, f"bucket_s: {err}") from None
    tracks = [] if win.empty else list(in_window(all_tracks(store, win.start, win.end), win))
    details = {"since": win.start, "until": win.end, "bucket_s": bucket_s}
    trail.append(who.label, who.role.value, "aggregates.read", details)
    return Aggregates(
        since=win.start,
        until=win.end,
        min_count=MIN_COUNT,
        counts=count_rows(tracks, win, MIN_COUNT),
        flows=flow_rows(tracks, MIN_COUNT),
    )
