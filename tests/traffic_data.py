"""A demo-like day of traffic rows for the traffic tests and the traffic page.

The demo's cameras (``street`` with its mid-block line, ``walkway`` with its exit line and
table zone, ``walkway-exit``, ``plaza``) plus a four-leg junction camera, 96 bins of
15 minutes with a morning and an evening peak and quiet nights (many small counts), and
four outages (``plaza`` 02:00-04:00, ``walkway`` 05:00-05:15, ``junction`` 13:00-13:45,
``street`` 22:30-22:45).

The rows are the *worst case* for disclosure control: every junction vehicle crosses
exactly one leg inwards and one outwards in the same bin, so a leg's turning totals
equal that line's crossings; a speed count equals the line's crossings of that class;
a journey count (from tracks) equals the origin-destination cell of its bin. ``LINKS``
says so, and the recovery test gives those equalities to its attacker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from civicsight.cameras import CameraConfig, CountingLine, Rules, load_cameras
from civicsight.events import ObjectClass, TrackletRef, TrackUpdate
from civicsight.plate_journeys import JourneyPart
from civicsight.resources import data_path
from civicsight.store import TrackStore
from civicsight.traffic import (
    BIN_S,
    CameraBin,
    CountBin,
    JourneyBin,
    OdBin,
    SpeedBin,
    TrafficRow,
    TurnBin,
    ZoneBin,
)

LEGS = ("north", "east", "south", "west")
INWARDS, OUTWARDS = "in", "out"
JUNCTION = CameraConfig(
    id="junction",
    name="Harbour junction (simulated)",
    source="media:car-detection.mp4",
    simulated=True,
    position={"x_m": 60.0, "y_m": -20.0},  # type: ignore[arg-type]
    rules=Rules(
        lines=tuple(
            CountingLine(
                id=leg, name=f"{leg.title()} leg", points=pts, to_right=INWARDS, to_left=OUTWARDS
            )
            for leg, pts in zip(
                LEGS,
                (
                    ((0.3, 0.1), (0.7, 0.1)),
                    ((0.9, 0.3), (0.9, 0.7)),
                    ((0.7, 0.9), (0.3, 0.9)),
                    ((0.1, 0.7), (0.1, 0.3)),
                ),
                strict=True,
            )
        )
    ),
)
DOWN = {
    "plaza": (2 * 3600, 4 * 3600),
    "junction": (13 * 3600, 13 * 3600 + 2700),
    "street": (22 * 3600 + 1800, 22 * 3600 + 2700),
    "walkway": (5 * 3600, 5 * 3600 + 900),
}
VEHICLES: dict[ObjectClass, float] = {
    "car": 1.0, "truck": 0.1, "bus": 0.05, "motorcycle": 0.06, "bicycle": 0.05, "person": 0.01,
}  # fmt: skip
OD_RATES: dict[tuple[str, str], dict[ObjectClass, float]] = {
    ("walkway", "walkway-exit"): {"person": 14.0, "bicycle": 0.5},
    ("street", "junction"): {"car": 16.0, "truck": 2.0, "bus": 1.0, "motorcycle": 0.6},
    ("junction", "street"): {"car": 13.0, "truck": 1.5, "bus": 0.8},
    ("plaza", "walkway"): {"person": 3.0},
    ("walkway-exit", "plaza"): {"person": 2.0},
}


@dataclass(frozen=True)
class Links:
    """The equalities that hold in the rows (what the recovery test's attacker knows)."""

    junction: str = "junction"
    inwards: str = INWARDS
    outwards: str = OUTWARDS
    speed_camera: str = "street"
    speed_rule: str = "midblock"


LINKS = Links()


def cameras() -> list[CameraConfig]:
    return [*load_cameras(data_path("demo_cameras")), JUNCTION]


def busy(t_of_day: float) -> float:
    """How busy the hour is, 0.05 at night to about 1 at the peaks."""
    h = t_of_day / 3600
    return 0.05 + math.exp(-(((h - 8.0) / 1.4) ** 2)) + 0.9 * math.exp(-(((h - 17.5) / 1.8) ** 2))


def demo_day(day: float, seed: int = 7) -> list[TrafficRow]:
    """Every row of the day starting at ``day`` (UTC midnight)."""
    rng = np.random.default_rng(seed)
    rows: list[TrafficRow] = []
    ids = [c.id for c in cameras()]
    for n in range(96):
        b = day + n * BIN_S
        t = n * BIN_S
        up = {c: not (c in DOWN and DOWN[c][0] <= t < DOWN[c][1]) for c in ids}
        rows += [CameraBin(camera=c, bin_start=b, up=u) for c, u in up.items()]
        f = busy(t)

        def draw(rate: float, f: float = f) -> int:
            return int(rng.poisson(rate * f))

        if up["street"]:
            for cls, share in VEHICLES.items():
                crossed = 0
                for d in ("southbound", "northbound"):
                    count = draw(38 * share)
                    crossed += count
                    if count:
                        rows.append(CountBin(camera="street", rule="midblock", direction=d,
                                             cls=cls, bin_start=b, count=count))  # fmt: skip
                if crossed:
                    p50 = float(rng.normal(47, 3))
                    rows.append(SpeedBin(camera="street", rule="midblock", cls=cls, bin_start=b,
                                         count=crossed, p15_kmh=p50 - 6, p50_kmh=p50,
                                         p85_kmh=p50 + 7))  # fmt: skip
        if up["walkway"]:
            for d, rate in (("out", 11.0), ("in", 1.5)):
                count = draw(rate)
                if count:
                    rows.append(CountBin(camera="walkway", rule="exit", direction=d,
                                         cls="person", bin_start=b, count=count))  # fmt: skip
            entries = draw(6.0)
            if entries:
                exits = int(rng.binomial(entries, 0.9))
                rows.append(ZoneBin(camera="walkway", zone="table", cls="person", bin_start=b,
                                    entries=entries, exits=exits,
                                    occupancy_mean=round(entries * 0.3, 2),
                                    occupancy_max=max(1, entries // 2), dwell_count=exits,
                                    dwell_p50_s=42.0 if exits else None,
                                    dwell_p90_s=95.0 if exits else None))  # fmt: skip
        if up["junction"]:
            for cls, share in VEHICLES.items():
                into = dict.fromkeys(LEGS, 0)
                out = dict.fromkeys(LEGS, 0)
                for e in LEGS:
                    for x in LEGS:
                        count = draw((0.15 if e == x else 7.0) * share)
                        if count:
                            rows.append(TurnBin(camera="junction", entry=e, exit=x, cls=cls,
                                                bin_start=b, count=count))  # fmt: skip
                            into[e] += count
                            out[x] += count
                for leg in LEGS:
                    for d, count in ((INWARDS, into[leg]), (OUTWARDS, out[leg])):
                        if count:
                            rows.append(CountBin(camera="junction", rule=leg, direction=d,
                                                 cls=cls, bin_start=b, count=count))  # fmt: skip
        for (o, d), rates in OD_RATES.items():
            if not (up[o] and up[d]):
                continue
            for cls, rate in rates.items():
                count = draw(rate)
                if not count:
                    continue
                rows.append(OdBin(origin=o, destination=d, cls=cls, bin_start=b, count=count))
                p50 = float(rng.normal(40 if cls == "person" else 95, 4))
                trip = {"origin": o, "destination": d, "cls": cls, "bin_start": b}
                rows.append(JourneyBin(**trip, count=count, p50_s=p50, p85_s=p50 * 1.3))
                if cls != "person" and count > 2:
                    plated = int(count * 0.6)
                    rows.append(JourneyBin(**trip, source="plates", count=plated,
                                           p50_s=p50 + 2, p85_s=p50 * 1.35))  # fmt: skip
    return rows


def fill(store: TrackStore, rows: list[TrafficRow]) -> None:
    """Put ``rows`` into a real store the way the hub puts them there: the stream app's
    bins through ``write_traffic`` (what the indexer does with ``traffic_bins``), each
    origin-destination cell as that many of the join's tracks (origin tracklet, then the
    destination tracklet one journey later, inside the same bin), and each plate journey
    row as a plate journey part (the indexer's matcher writes those). The store then
    computes journeys and OD from the tracks at read time, as it does in the hub."""
    store.open()
    store.write_traffic(
        [r for r in rows if not isinstance(r, JourneyBin | OdBin)], stored_at=rows[0].bin_start
    )
    seconds = {
        (r.origin, r.destination, r.cls, r.bin_start): r.p50_s or 60.0
        for r in rows
        if isinstance(r, JourneyBin) and r.source == "tracks"
    }
    tracks = []
    for r in rows:
        if not isinstance(r, OdBin):
            continue
        trip = seconds.get((r.origin, r.destination, r.cls, r.bin_start), 60.0)
        for i in range(r.count):
            start = r.bin_start + 5.0 + i * 3.0
            legs = ((r.origin, start), (r.destination, start + trip))
            refs = tuple(
                TrackletRef(camera_id=c, track_id=len(tracks) * 2 + j, first_seen=f,
                            last_seen=f + 4.0)
                for j, (c, f) in enumerate(legs)
            )  # fmt: skip
            tracks.append(
                TrackUpdate(
                    track_id=f"g-{len(tracks):07d}",
                    version=1,
                    cls=r.cls,
                    tracklets=refs,
                    first_seen=start,
                    last_seen=refs[-1].last_seen,
                    emitted_at=refs[-1].last_seen + 1,
                    closed=True,
                )
            )
    store.write(tracks, stored_at=rows[0].bin_start)
    parts = [
        JourneyPart(
            bin_start=r.bin_start,
            origin=r.origin,
            destination=r.destination,
            cls=r.cls,
            run="0d3a0d3a",
            seconds=(r.p50_s or 60.0,) * r.count,
        )
        for r in rows
        if isinstance(r, JourneyBin) and r.source == "plates"
    ]
    store.write_journey_parts(parts, stored_at=rows[0].bin_start)
