"""The track store edge: one narrow Protocol, two backends with one behaviour.

``civicsight.store.sqlite`` (embedded default) and ``civicsight.store.elastic``
(Elasticsearch 8/9). The indexer writes track updates, plate reads and appearances;
the API searches tracks, plates (exact, pattern, fuzzy) and similar appearances, and
reads a track's detail. ``tests/unit/civicsight/store/test_contract.py`` runs one suite
against both.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from civicsight.events import (
    Appearance,
    ObjectClass,
    PlateRead,
    TrackUpdate,
    global_track_id,
    tracklet_id,
)
from civicsight.plate_journeys import JourneyPartSink
from civicsight.traffic import TrafficSink, TrafficSource

Indexed = TrackUpdate | PlateRead | Appearance
PAGE_SIZE = 50
"""Tracks or plate reads in one page of a search, unless asked otherwise."""
MAX_PAGE = 500
"""The most one page may hold (the API refuses more; readers that walk every page use it)."""


class StoredTrack(BaseModel):
    """A track as the store holds it (latest version), without images."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    track_id: str
    version: int
    cls: ObjectClass
    cameras: tuple[str, ...]
    tracklets: int = Field(description="number of single-camera tracklets")
    first_seen: float
    last_seen: float
    closed: bool
    path: tuple[tuple[float, float], ...] = ()
    has_crop: bool = Field(
        False,
        description="a best crop is stored: the track's own, or one of its tracklets' "
        "(``crop.jpg`` answers)",
    )
    stored_at: float
    merged_into: str | None = Field(
        None, description="the track this one's tracklets now belong to (its last version)"
    )


@dataclass(frozen=True)
class TrackQuery:
    cls: str | None = None
    camera: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = PAGE_SIZE
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[StoredTrack] = field(default_factory=list)
    next: str | None = None


class PlateHit(BaseModel):
    """One plate read that matched, with the track its tracklet belongs to (None while
    no track update has named the tracklet yet)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    track_id: str | None
    tracklet: str = Field(description="camera_id/tracker id")
    camera_id: str
    text: str
    conf: float = Field(description="the read's best confidence")
    seen_at: float
    distance: float = Field(description="OCR-aware edit distance to the query (0: exact)")


@dataclass(frozen=True)
class PlateQuery:
    mode: Literal["exact", "pattern", "fuzzy"]
    text: str  # the normalised plate, or the pattern
    max_distance: float = 0.0
    camera: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = PAGE_SIZE
    cursor: str | None = None


@dataclass(frozen=True)
class PlatePage:
    items: list[PlateHit] = field(default_factory=list)
    next: str | None = None


@dataclass(frozen=True)
class SimilarQuery:
    vector: Sequence[float]
    cls: ObjectClass
    model: str
    k: int = 20
    cameras: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None


class SimilarHit(BaseModel):
    """A track (or a tracklet not yet in a track) whose appearance is near the query."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    track_id: str | None
    tracklet: str
    camera_id: str
    cls: ObjectClass
    seen_at: float
    score: float = Field(description="cosine similarity, exact (re-ranked)")


class Sighting(BaseModel):
    """One camera's stretch of a track (a tracklet), in the track's time order."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    tracklet: str
    camera_id: str
    first_seen: float
    last_seen: float
    has_crop: bool = Field(False, description="the tracklet's best crop is stored")


class PlateReadOut(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    tracklet: str
    camera_id: str
    text: str
    conf: float
    seen_at: float


class HistoryEntry(BaseModel):
    """A stored version of a track: which tracklets it gained (merge) or lost (split)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: int
    emitted_at: float
    kind: Literal["created", "merge", "split", "update", "merge+split"]
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


class TrackDetail(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    track: StoredTrack
    trajectory: list[Sighting]
    plate_reads: list[PlateReadOut]
    history: list[HistoryEntry]


@dataclass(frozen=True)
class WriteResult:
    """What a batch write did: ``applied`` (newer than the store), and the position in
    the batch and reason of every item the store refused (they go to the DLQ)."""

    applied: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)


class BadCursorError(ValueError):
    pass


class IndexNotReadyError(RuntimeError):
    """An image search of a class whose vector graph is being rebuilt (a damaged or
    missing saved graph): searches narrow enough to be exact, and other classes, go on."""

    def __init__(self, cls: str, done: int, total: int) -> None:
        super().__init__(
            f"the image search index for {cls} is being rebuilt ({done:,} of about {total:,} "
            "vectors): narrow the search by camera or time, or try again shortly"
        )


def encode_cursor(last_seen: float, track_id: str) -> str:
    return base64.urlsafe_b64encode(f"{last_seen!r}|{track_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        ts, track_id = text.split("|", 1)
        return float(ts), track_id
    except ValueError as err:
        raise BadCursorError("invalid cursor") from err


def plate_sort_key(hit: PlateHit) -> tuple[float, float, str, str]:
    """The stable order of plate hits: nearest first, then newest, then by tracklet."""
    return (hit.distance, -hit.seen_at, hit.tracklet, hit.text)


def encode_plate_cursor(hit: PlateHit) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(plate_sort_key(hit))).encode()).decode()


def decode_plate_cursor(cursor: str) -> tuple[float, float, str, str]:
    try:
        d, neg_seen, tracklet, text = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(d), float(neg_seen), str(tracklet), str(text)
    except (ValueError, TypeError) as err:
        raise BadCursorError("invalid cursor") from err


def plate_page(hits: list[PlateHit], query: PlateQuery) -> PlatePage:
    """Sort, skip past the cursor, cut one page: the same for every backend."""
    ordered = sorted(hits, key=plate_sort_key)
    if query.cursor:
        after = decode_plate_cursor(query.cursor)
        ordered = [h for h in ordered if plate_sort_key(h) > after]
    items = ordered[: query.limit]
    more = len(ordered) > query.limit
    return PlatePage(items, encode_plate_cursor(items[-1]) if more else None)


def history(versions: list[tuple[int, float, tuple[str, ...]]]) -> list[HistoryEntry]:
    """Merge/split history from each stored version's tracklets, oldest first."""
    out: list[HistoryEntry] = []
    before: set[str] | None = None
    for version, emitted_at, tracklets in sorted(versions):
        now = set(tracklets)
        if before is None:
            out.append(HistoryEntry(version=version, emitted_at=emitted_at, kind="created"))
        else:
            added, removed = tuple(sorted(now - before)), tuple(sorted(before - now))
            kind = (
                "merge+split"
                if added and removed
                else "merge"
                if added
                else "split"
                if removed
                else "update"
            )
            out.append(
                HistoryEntry(
                    version=version,
                    emitted_at=emitted_at,
                    kind=kind,
                    added=added,
                    removed=removed,
                )
            )
        before = now
    return out


def appearance_rank(quality: float, captured_at: float) -> int:
    """The external version of a tracklet's appearance: the best crop wins, and of equal
    quality the later one. Monotonic, so a replay never regresses (fits a signed long)."""
    return round(quality * 1_000_000) * 10**12 + round(captured_at * 1000) % 10**12


def tracklet_crop_of(update: TrackUpdate) -> tuple[str, bytes] | None:
    """(tracklet id, JPEG) when ``update`` carries the best crop of one tracklet.

    The stream app publishes each single-camera tracklet as its own track
    (``global_track_id``: ``t-…``, one tracklet), and sends the tracklet's best crop in a
    version whenever a better one arrived; so the newest version of that track with a
    crop holds the tracklet's best crop, and the track version orders them. Any other
    update's crop (a cross-camera track) is not one tracklet's and is not kept as one."""
    if update.best_crop_jpeg is None or len(update.tracklets) != 1:
        return None
    ref = update.tracklets[0]
    if update.track_id != global_track_id(ref.camera_id, ref.track_id):
        return None
    return tracklet_id(ref.camera_id, ref.track_id), update.best_crop_jpeg


def crop_stand_in(legs: Sequence[Sighting]) -> Sighting | None:
    """The tracklet whose crop stands for a track that has no crop of its own (a
    cross-camera track): the longest visit with a crop, then the earliest."""
    with_crop = [leg for leg in legs if leg.has_crop]
    if not with_crop:
        return None
    return min(with_crop, key=lambda leg: (leg.first_seen - leg.last_seen, leg.first_seen))


def plate_rank(conf: float) -> int:
    """The external version of a (tracklet, text) plate read: its best confidence."""
    return round(conf * 1_000_000)


class TrackStore(TrafficSink, TrafficSource, JourneyPartSink, Protocol):
    """Also the traffic store: the indexer writes the stream app's bins
    (``TrafficSink.write_traffic``) and the plate journey parts (``JourneyPartSink``), and
    the API and the traffic CLI read the rows back (``TrafficSource``: ``traffic_sql.py``,
    ``traffic_es.py``, ``journeys_sql.py``, ``journeys_es.py``)."""

    def open(self) -> None: ...
    def close(self) -> None: ...
    def upsert(self, update: TrackUpdate, stored_at: float) -> bool:
        """Store ``update`` unless a same-or-newer version is there; True if it was applied."""
        ...

    def write(self, events: Sequence[Indexed], stored_at: float) -> WriteResult:
        """Idempotent batch write of track updates, plate reads and appearances."""
        ...

    def get(self, track_id: str) -> StoredTrack | None: ...
    def crop(self, track_id: str) -> bytes | None:
        """The track's best crop; for a track without its own (a cross-camera track),
        the crop of its tracklet ``crop_stand_in`` names; None when it has neither."""
        ...

    def tracklet_crop(self, tracklet: str) -> bytes | None:
        """The best crop of one tracklet (``camera/id``), kept from its own track's
        updates (``tracklet_crop_of``); purged with the tracks."""
        ...

    def search(self, query: TrackQuery) -> Page: ...
    def search_plates(self, query: PlateQuery) -> PlatePage: ...
    def search_similar(self, query: SimilarQuery) -> list[SimilarHit]: ...
    def detail(self, track_id: str) -> TrackDetail | None: ...
    def warm(self) -> int:
        """Build what searches keep in memory (SQLite's vector graphs) now rather than on
        the first search; returns how many vectors (0 where nothing is kept)."""
        ...

    def save_index(self, force: bool = False) -> bool:
        """The indexer's: save what searches keep beside the store (SQLite's vector
        graphs) when due (``force``: now); True when saved (never where nothing is kept)."""
        ...

    @property
    def data_classes(self) -> tuple[str, ...]:
        """The retention data classes it holds (``civicsight.retention.Retainer``)."""
        ...

    def purge(self, data_class: str, before: float) -> int:
        """Delete one data class's records older than ``before``; how many."""
        ...

    def purge_before(self, cutoff: float) -> int:
        """Delete tracks, plate reads and appearances seen before ``cutoff`` (retention);
        returns how many tracks."""
        ...
