"""Journey times from plate pseudonyms (ANPR), kept as bins at write time (pure).

The indexer feeds ``PlateSighting``s (``civicsight.pseudonyms``) to ``PlateJourneys``,
which matches consecutive sightings of one pseudonym and keeps only journey times:

- Sightings of one pseudonym at one camera are one stop (a plate is read about once a
  second while in view); a sighting at another camera within ``max_journey_s`` of the
  last sighting at the previous one is a journey: origin, destination, the class seen at
  the destination, left at the last sighting at the origin, arrived at the first at the
  destination. Same camera pairs and bins as track journeys (``civicsight.journeys``);
  the times are those of plate reads, which lie within a visit, not of its ends.
- **Midnight**: a journey counts only when its departure's UTC day is the pseudonym's
  key day. In the overlap hour each sighting comes under two keys; the rule keeps the
  journey under exactly one of them (``civicsight.pseudonyms``). Hence ``max_journey_s``
  may not exceed the overlap.
- **Order**: all sightings of a pseudonym share a partition (the topic is keyed by it),
  but two plates services may deliver them a little out of order, so sightings wait
  ``lateness_s`` of capture time in a buffer and are matched in capture order. One older
  than the last sighting of its pseudonym at another camera cannot be placed: it is
  dropped (``unordered``), as is one older than the bins still open (``late``).
- **What is kept, and for how long.** Pseudonyms live only in this object's memory, with
  the camera and time of their last stop, for at most ``max_journey_s`` after it (no
  later sighting could make a journey of it) and never after their key's end. What is
  written is a ``JourneyPart`` per bin: the bin's journey times seen by this process
  run, no pseudonym, no plate, no vehicle. The store reads a bin as the union of its
  parts (count, p50, p85).
- **Why parts per run.** A bin is rewritten whole each time it gains a journey (the
  store replaces a part by key, so a part never regresses). A restarted indexer starts
  empty: were its parts keyed by bin alone, its first write would replace the bin's
  journeys of before the restart. Keyed by run, both stay. A restart loses only the
  journeys whose first end was seen before it and the second after (the pseudonyms were
  in memory); a crash between the store's write and the input's commit can count the
  journeys of that one uncommitted batch twice (at-least-once delivery).
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from civicsight.events import ObjectClass, PlateSighting
from civicsight.journeys import JourneyKey
from civicsight.pseudonyms import OVERLAP_S, key_end, utc_day
from civicsight.traffic import BIN_S, TrafficQuery, bin_start

EXPIRY_EVERY_S = 10.0
"""How often (either clock) the held pseudonyms are checked for expiry."""


class JourneyPart(BaseModel):
    """One process run's journey times for one bin, origin, destination and class: what
    the store keeps of plate journeys. ``run`` is a random id per process start."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bin_start: float
    origin: str
    destination: str
    cls: ObjectClass
    run: str = Field(pattern=r"^[0-9a-f]{8,32}$")
    seconds: tuple[float, ...] = Field(min_length=1)

    @property
    def count(self) -> int:
        return len(self.seconds)

    @property
    def key(self) -> JourneyKey:
        return (self.bin_start, self.origin, self.destination, self.cls)


@runtime_checkable
class JourneyPartSink(Protocol):
    """What the indexer writes plate journeys to (both stores)."""

    def write_journey_parts(self, parts: list[JourneyPart], stored_at: float) -> int:
        """Replace each part of the same key (bin, origin, destination, class, run) unless
        the stored one holds more journeys; how many were written."""
        ...


def part_times(parts: Iterable[JourneyPart], query: TrafficQuery) -> dict[JourneyKey, list[float]]:
    """The journey times of the parts that the query asks for, every run's together."""
    out: dict[JourneyKey, list[float]] = defaultdict(list)
    for p in parts:
        if (
            query.since <= p.bin_start < query.until
            and (query.cls is None or p.cls == query.cls)
            and (query.camera is None or query.camera in (p.origin, p.destination))
        ):
            out[p.key] += p.seconds
    return out


@dataclass
class _Stop:
    camera: str
    first: float
    last: float
    key_day_end: float


@dataclass
class MatchStats:
    """Counts only (no pseudonym): for the log and the tests."""

    sightings: int = 0
    journeys: int = 0
    late: int = 0
    unordered: int = 0
    too_long: int = 0
    other_day: int = 0
    """Matches left to the other key of the overlap (counted there)."""


@dataclass
class PlateJourneys:
    """The matcher (see the module docstring). ``add`` and ``tick`` return the parts that
    changed, to write."""

    run: str
    max_journey_s: float = 1800.0
    lateness_s: float = 30.0
    stats: MatchStats = field(default_factory=MatchStats)

    def __post_init__(self) -> None:
        if not 0 < self.max_journey_s <= OVERLAP_S:
            raise ValueError(
                f"max_journey_s must be in (0, {OVERLAP_S:.0f}] (the key overlap), "
                f"got {self.max_journey_s}"
            )
        if self.lateness_s < 0:
            raise ValueError("lateness_s must be >= 0")
        self._buffer: list[tuple[float, int, PlateSighting]] = []
        self._seq = itertools.count()
        self._newest = float("-inf")  # newest capture time received
        self._released = float("-inf")  # newest capture time matched
        self._last_add = float("-inf")  # wall time of the last add
        self._stops: dict[str, _Stop] = {}
        self._bins: dict[JourneyKey, list[float]] = {}
        self._next_expiry = float("-inf")

    @property
    def pending(self) -> int:
        """Pseudonyms held now (a count: the pseudonyms themselves never leave)."""
        return len(self._stops)

    @property
    def floor(self) -> float:
        """Sightings captured before this are too late: the bins they would fall in are
        closed and forgotten."""
        return self._released - self.max_journey_s

    def add(self, sightings: Iterable[PlateSighting], now: float) -> list[JourneyPart]:
        """Take sightings (any order); match those older than the newest by the lateness."""
        for s in sightings:
            self.stats.sightings += 1
            if s.captured_at < self.floor:
                self.stats.late += 1
                continue
            heapq.heappush(self._buffer, (s.captured_at, next(self._seq), s))
            self._newest = max(self._newest, s.captured_at)
        self._last_add = now
        return self._release(self._newest - self.lateness_s, now)

    def tick(self, now: float) -> list[JourneyPart]:
        """Housekeeping by wall time ``now``: after ``lateness_s`` without input, match what
        waits; after ``max_journey_s`` without input, or at its key's end, forget a
        pseudonym even if no later sighting moved the capture clock on."""
        idle = now - self._last_add
        out = self._release(float("inf") if idle >= self.lateness_s else float("-inf"), now)
        if idle >= self.max_journey_s:
            self._stops.clear()
        return out

    def _release(self, until: float, now: float) -> list[JourneyPart]:
        changed: set[JourneyKey] = set()
        while self._buffer and self._buffer[0][0] <= until:
            _, _, s = heapq.heappop(self._buffer)
            key = self._match(s)
            if key is not None:
                changed.add(key)
            self._released = max(self._released, s.captured_at)
        self._expire(now)
        parts = [
            JourneyPart(
                bin_start=k[0],
                origin=k[1],
                destination=k[2],
                cls=k[3],
                run=self.run,
                seconds=tuple(self._bins[k]),
            )
            for k in sorted(changed)
        ]
        floor = self.floor
        for k in [k for k in self._bins if k[0] + BIN_S <= floor]:
            del self._bins[k]  # no arrival can fall in it any more
        return parts

    def _expire(self, now: float) -> None:
        """Forget pseudonyms no sighting can extend: their last stop is a journey time
        behind the matched clock, or their key has ended (by either clock)."""
        horizon = self._released - self.max_journey_s
        clock = max(self._released, now)
        if clock < self._next_expiry:
            return
        self._next_expiry = clock + EXPIRY_EVERY_S
        gone = [p for p, st in self._stops.items() if st.last < horizon or st.key_day_end <= clock]
        for p in gone:
            del self._stops[p]

    def _match(self, s: PlateSighting) -> JourneyKey | None:
        at = s.captured_at
        prev = self._stops.get(s.pseudonym)
        if prev is not None and prev.camera == s.camera_id and at - prev.last <= self.max_journey_s:
            prev.first, prev.last = min(prev.first, at), max(prev.last, at)
            return None
        if prev is not None and at < prev.last:
            self.stats.unordered += 1
            return None
        self._stops[s.pseudonym] = _Stop(s.camera_id, at, at, key_end(s.key_day))
        if prev is None or prev.camera == s.camera_id:
            return None
        seconds = at - prev.last
        if seconds > self.max_journey_s:
            self.stats.too_long += 1
            return None
        if utc_day(prev.last) != s.key_day:
            self.stats.other_day += 1
            return None
        key = (bin_start(at), prev.camera, s.camera_id, s.cls)
        self._bins.setdefault(key, []).append(round(seconds, 1))
        self.stats.journeys += 1
        return key
