"""The track store edge: a narrow Protocol; SQLite here, Elasticsearch with the search issue."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from civicsight.events import ObjectClass, TrackUpdate


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
    has_crop: bool = False
    stored_at: float


@dataclass(frozen=True)
class TrackQuery:
    cls: str | None = None
    camera: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[StoredTrack] = field(default_factory=list)
    next: str | None = None


class BadCursorError(ValueError):
    pass


def encode_cursor(last_seen: float, track_id: str) -> str:
    return base64.urlsafe_b64encode(f"{last_seen!r}|{track_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        ts, track_id = text.split("|", 1)
        return float(ts), track_id
    except ValueError as err:
        raise BadCursorError("invalid cursor") from err


class TrackStore(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def upsert(self, update: TrackUpdate, stored_at: float) -> bool:
        """Store ``update`` unless a same-or-newer version is there; True if it was applied."""
        ...

    def get(self, track_id: str) -> StoredTrack | None: ...
    def crop(self, track_id: str) -> bytes | None: ...
    def search(self, query: TrackQuery) -> Page: ...
    def purge_before(self, cutoff: float) -> int:
        """Delete tracks last seen before ``cutoff`` (retention); returns how many."""
        ...
