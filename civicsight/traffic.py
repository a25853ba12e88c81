"""Traffic analytics as domain values: the rows the hub stores per 15-minute bin, and the
one narrow read interface the API, the exports and the report use.

The stream app turns ``RuleHit``s into bins (counts per line, direction and class; zone
entries, exits, occupancy and dwell; turning movements; speed distributions), the
indexer writes them to the store, and journeys and origin-destination come from
cross-camera tracks (and from plate pseudonyms, never plates). None of these rows names a
track, a plate or a person: every row is an aggregate over one bin.

What is stored is raw (exact counts, unsuppressed). Disclosure control (small-count and
secondary suppression, ``civicsight.disclosure``) is applied on the way out, by the API and
the exports, never in the store: a threshold raised later applies to old bins too.

Pure: types and small helpers, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from civicsight.events import ObjectClass

BIN_S = 900
"""Every traffic row covers one aligned 15-minute bin (``bin_start`` a multiple of it)."""
BIN_MINUTES = BIN_S // 60

BinStatus = Literal["ok", "camera_down"]
"""``ok``: the camera worked for the bin (a count of 0 means nothing was seen);
``camera_down``: it sent no frames for the bin, so its numbers are unknown (``null``)."""


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    bin_start: float = Field(description="UTC epoch seconds, a multiple of 900")
    bin_minutes: int = Field(BIN_MINUTES, description="always 15")


class CameraBin(_Row):
    """Whether a camera worked during a bin (frames arrived)."""

    camera: str
    up: bool


class CountBin(_Row):
    """Crossings of one counting line, one way, by one class, in one bin."""

    camera: str
    rule: str
    direction: str = Field(description="the direction's name in the camera file")
    cls: ObjectClass
    count: int = Field(ge=0)


class ZoneBin(_Row):
    """One zone, one class, one bin: entries, exits, occupancy and dwell."""

    camera: str
    zone: str
    cls: ObjectClass
    entries: int = Field(ge=0)
    exits: int = Field(ge=0)
    occupancy_mean: float = Field(ge=0, description="time-weighted mean objects inside")
    occupancy_max: int = Field(ge=0)
    dwell_count: int = Field(ge=0, description="leaves with a dwell time in the bin")
    dwell_p50_s: float | None = None
    dwell_p90_s: float | None = None


class TurnBin(_Row):
    """Turning movements at a junction camera: tracklets that crossed ``entry`` then
    ``exit`` (counting line ids: the legs), by class, in the bin of the exit crossing."""

    camera: str
    entry: str
    exit: str
    cls: ObjectClass
    count: int = Field(ge=0)


class SpeedBin(_Row):
    """Speeds over one counting line of a calibrated camera, one class, one bin: a
    distribution only, never a vehicle's speed."""

    camera: str
    rule: str
    cls: ObjectClass
    count: int = Field(ge=0)
    p15_kmh: float | None = None
    p50_kmh: float | None = None
    p85_kmh: float | None = None


class JourneyBin(_Row):
    """Journey times from ``origin`` to ``destination`` (cameras), one class, in the bin
    of the arrival: from cross-camera tracks (``source="tracks"``) or from plate
    pseudonyms (``source="plates"``)."""

    origin: str
    destination: str
    cls: ObjectClass
    source: Literal["tracks", "plates"] = "tracks"
    count: int = Field(ge=0)
    p50_s: float | None = None
    p85_s: float | None = None


class OdBin(_Row):
    """Origin-destination: tracks whose first camera is ``origin`` and last camera is
    ``destination``, one class, in the bin of the track's start."""

    origin: str
    destination: str
    cls: ObjectClass
    count: int = Field(ge=0)


TrafficRow = CameraBin | CountBin | ZoneBin | TurnBin | SpeedBin | JourneyBin | OdBin


@dataclass(frozen=True)
class TrafficQuery:
    """Bins starting in ``[since, until)``, optionally one camera (for journeys and OD:
    origin or destination) and one class."""

    since: float
    until: float
    camera: str | None = None
    cls: ObjectClass | None = None


class TrafficSource(Protocol):
    """What the API and the exports read (both stores implement it). Rows come in bin
    order; none is suppressed."""

    def camera_bins(self, query: TrafficQuery) -> list[CameraBin]: ...
    def counts(self, query: TrafficQuery) -> list[CountBin]: ...
    def zones(self, query: TrafficQuery) -> list[ZoneBin]: ...
    def turns(self, query: TrafficQuery) -> list[TurnBin]: ...
    def speeds(self, query: TrafficQuery) -> list[SpeedBin]: ...
    def journeys(self, query: TrafficQuery) -> list[JourneyBin]: ...
    def od(self, query: TrafficQuery) -> list[OdBin]: ...


class TrafficSink(Protocol):
    """What the indexer writes: rows replace the row of the same key (a bin recounted
    after a restart or a late hit overwrites, never adds)."""

    def write_traffic(self, rows: Sequence[TrafficRow], stored_at: float) -> int: ...


def bin_start(t: float) -> float:
    """The start of the 15-minute bin holding ``t``."""
    return float(int(t // BIN_S) * BIN_S)


def bin_window(since: float, until: float) -> tuple[float, float]:
    """The times ``[lo, hi)`` whose bin starts in ``[since, until)`` (a ``TrafficQuery``):
    both are multiples of ``BIN_S``, so a store can filter raw times before binning."""
    return float(math.ceil(since / BIN_S) * BIN_S), float(math.ceil(until / BIN_S) * BIN_S)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values``, linear between the closest ranks
    (numpy's default, Hyndman and Fan's type 7); None for no values. Every published
    distribution (p15 / p50 / p85) uses this one definition."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- helpers for the rows the stream app makes (cameras, counts, zones, turns, speeds) ----

RowKind = Literal["cameras", "counts", "zones", "turns", "speeds"]
"""The kinds of row the stream app bins (``civicsight.streams.traffic_bins``), named as their
store tables and Elasticsearch indices are (``civicsight-traffic-<kind>``)."""
ROW_TYPES: dict[RowKind, type[_Row]] = {
    "cameras": CameraBin,
    "counts": CountBin,
    "zones": ZoneBin,
    "turns": TurnBin,
    "speeds": SpeedBin,
}
KEY_FIELDS: dict[RowKind, tuple[str, ...]] = {
    "cameras": ("camera",),
    "counts": ("camera", "rule", "direction", "cls"),
    "zones": ("camera", "zone", "cls"),
    "turns": ("camera", "entry", "exit", "cls"),
    "speeds": ("camera", "rule", "cls"),
}
"""What identifies a row of each kind, besides its ``bin_start``: a row written again with
the same key replaces the one stored (a recount overwrites, never adds)."""
StreamRow = CameraBin | CountBin | ZoneBin | TurnBin | SpeedBin


def row_kind(row: _Row) -> RowKind:
    """``cameras``, ``counts``, ``zones``, ``turns`` or ``speeds``."""
    for kind, cls in ROW_TYPES.items():
        if type(row) is cls:
            return kind
    raise ValueError(f"not a stream-app traffic row: {type(row).__name__}")


def row_key(row: _Row) -> str:
    """The row's identity as one string (the Elasticsearch document id): its key fields
    and its bin, ``|``-separated, e.g. ``street|midblock|northbound|car|1700000100``. The
    fields are slugs (camera, rule and direction ids, classes), which hold no ``|``."""
    fields = KEY_FIELDS[row_kind(row)]
    return "|".join([*(str(getattr(row, f)) for f in fields), str(int(row.bin_start))])


def bins_up(camera_bins: Sequence[CameraBin]) -> frozenset[tuple[str, float]]:
    """The (camera, bin_start) pairs whose camera worked (frames arrived).

    How a reader tells 0 from null: the store holds only what happened (a row per rule,
    direction and class that saw something) plus one ``CameraBin`` per camera and bin.
    For a bin in this set, every rule of the camera without a row counted 0; for a bin not
    in it (a ``CameraBin`` with ``up=False``, or none at all: the camera never reported),
    the camera's numbers are unknown: ``null``, never 0."""
    return frozenset((b.camera, b.bin_start) for b in camera_bins if b.up)
