"""Journey times and origin-destination from cross-camera tracks (pure: visits in, bins out).

A *trip* is one object's camera visits: a track of the cross-camera join as the store
holds it (its latest version), or, for the accuracy check, one identity of a scenario's
ground truth. Its visits in time order, with consecutive visits to one camera taken as
one *stop* (an occlusion that split a visit in two tracklets is still one visit), give:

- **journeys**: every two consecutive stops at different cameras A -> B are one journey,
  its time the gap from leaving A (the last time A saw it) to reaching B (the first time
  B saw it), at least 0 (overlapping views). It falls in the 15-minute bin of its
  arrival, under the trip's class. A ``JourneyBin`` holds how many and the p50 / p85 of
  their times (``civicsight.traffic.percentile``).
- **origin-destination**: the camera of a trip's first stop -> the camera of its last
  stop, in the bin of the trip's start. A trip seen by one camera only is a cell on the
  diagonal (it entered and left the covered network there).

Which tracks: only the join's (``g-`` ids; the per-tracklet ``t-`` tracks would count
every visit again), only their latest version, and never a track merged into another
(``merged_into``: its last version repeats its new holder's tracklets). A tracklet that
two stored tracks still claim (the indexer may store a merge's new holder before the
retired track's last version: they travel in different partitions) counts once, in the
track whose stored version the join decided last.

**Computed at read time, not kept as bins.** The join revises tracks for minutes after
the fact, investigators merge and split them for days, and retention deletes them: bins
kept at write time would have to take back a track's old contribution on each of those
(and a p85 cannot be taken back from a stored p85: it needs every journey time of the
bin again). Reading the tracks whose visits fall in the asked window, through the index
on tracklet start times, always reflects the latest decision and the retention policy at
once, and is fast enough (``civicsight bench journeys``: README). Plate journeys
(``civicsight.plate_journeys``) are the opposite case, kept as bins at write time,
because the pseudonyms they come from must not be kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from civicsight.events import ObjectClass
from civicsight.traffic import JourneyBin, OdBin, TrafficQuery, bin_start, percentile

ROUND_S = 1
"""Decimals of journey times in a bin (a tenth of a second)."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One camera's stretch of a trip (a tracklet)."""

    tracklet: str
    camera: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class Trip:
    """One object's visits: a stored track (``key`` its id) or a true identity."""

    key: str
    cls: ObjectClass
    visits: tuple[Visit, ...]
    decided_at: float = 0.0
    """When the join decided this version (``emitted_at``): the newest decision owns a
    tracklet that two trips claim."""


@dataclass(frozen=True, slots=True)
class Leg:
    """A journey: consecutive stops of one trip at two different cameras."""

    origin: str
    destination: str
    cls: ObjectClass
    departed: float
    arrived: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.arrived - self.departed)


def stops(visits: Iterable[Visit]) -> list[Visit]:
    """The visits in time order, consecutive visits to one camera joined into one."""
    out: list[Visit] = []
    for v in sorted(visits, key=lambda v: (v.first_seen, v.last_seen, v.camera, v.tracklet)):
        if out and out[-1].camera == v.camera:
            last = out[-1]
            out[-1] = Visit(
                last.tracklet, v.camera, last.first_seen, max(last.last_seen, v.last_seen)
            )
        else:
            out.append(v)
    return out


def legs(trip: Trip) -> list[Leg]:
    """The trip's journeys, in time order."""
    s = stops(trip.visits)
    return [Leg(a.camera, b.camera, trip.cls, a.last_seen, b.first_seen) for a, b in pairwise(s)]


def owned(trips: Iterable[Trip]) -> list[Trip]:
    """Each tracklet in one trip only: the one decided last (then the smallest key).
    Trips left with no visit are dropped."""
    trips = list(trips)
    claims = [v.tracklet for t in trips for v in t.visits]
    if len(set(claims)) == len(claims):
        return trips  # the usual case: nothing claimed twice
    owner: dict[str, str] = {}
    for t in sorted(trips, key=lambda t: (-t.decided_at, t.key)):
        for v in t.visits:
            owner.setdefault(v.tracklet, t.key)
    out = []
    for t in trips:
        kept = tuple(v for v in t.visits if owner[v.tracklet] == t.key)
        if kept:
            out.append(t if len(kept) == len(t.visits) else Trip(t.key, t.cls, kept, t.decided_at))
    return out


def _wanted(query: TrafficQuery, at: float, cls: str, cameras: tuple[str, str]) -> bool:
    return (
        query.since <= bin_start(at) < query.until
        and (query.cls is None or cls == query.cls)
        and (query.camera is None or query.camera in cameras)
    )


JourneyKey = tuple[float, str, str, ObjectClass]
"""(bin start, origin, destination, class)"""


def journey_times(trips: Iterable[Trip], query: TrafficQuery) -> dict[JourneyKey, list[float]]:
    """The journey times of the trips, by arrival bin, origin, destination and class."""
    out: dict[JourneyKey, list[float]] = defaultdict(list)
    for trip in owned(trips):
        for leg in legs(trip):
            if _wanted(query, leg.arrived, leg.cls, (leg.origin, leg.destination)):
                out[(bin_start(leg.arrived), leg.origin, leg.destination, leg.cls)].append(
                    leg.seconds
                )
    return out


def journey_rows(
    times: Mapping[JourneyKey, Sequence[float]], source: Literal["tracks", "plates"]
) -> list[JourneyBin]:
    """``JourneyBin`` rows of journey times (any source), in bin order."""
    rows = []
    for (start, origin, destination, cls), seconds in sorted(times.items()):
        ordered = sorted(seconds)
        p50, p85 = percentile(ordered, 50), percentile(ordered, 85)
        rows.append(
            JourneyBin(
                bin_start=start,
                origin=origin,
                destination=destination,
                cls=cls,
                source=source,
                count=len(seconds),
                p50_s=None if p50 is None else round(p50, ROUND_S),
                p85_s=None if p85 is None else round(p85, ROUND_S),
            )
        )
    return rows


def journey_bins(trips: Iterable[Trip], query: TrafficQuery) -> list[JourneyBin]:
    """Journey-time bins (``source="tracks"``) of the trips that the query asks for."""
    return journey_rows(journey_times(trips, query), "tracks")


def od_bins(trips: Iterable[Trip], query: TrafficQuery) -> list[OdBin]:
    """Origin-destination bins of the trips that the query asks for, in bin order."""
    counts: dict[JourneyKey, int] = defaultdict(int)
    for trip in owned(trips):
        s = stops(trip.visits)
        origin, destination = s[0].camera, s[-1].camera
        if _wanted(query, s[0].first_seen, trip.cls, (origin, destination)):
            counts[(bin_start(s[0].first_seen), origin, destination, trip.cls)] += 1
    return [
        OdBin(bin_start=start, origin=o, destination=d, cls=cls, count=n)
        for (start, o, d, cls), n in sorted(counts.items())
    ]


def merge_rows(*sources: Iterable[JourneyBin]) -> list[JourneyBin]:
    """Journey rows of several sources in one list, in bin order (then origin,
    destination, class, source)."""
    rows = [r for rows in sources for r in rows]
    return sorted(rows, key=lambda r: (r.bin_start, r.origin, r.destination, r.cls, r.source))
