"""Where and when a tracklet can follow another: the camera graph and the transit-time model.

The graph comes from the scenario's or site's links (camera pairs one road or path joins
directly, with its length). Without links only positions are known: then neighbouring
cameras are those no third camera stands between (the Gabriel graph) plus pairs closer
than ``NEIGHBOUR_FACTOR`` times the farther camera's nearest-neighbour distance, and the
straight line stands in for the road.

Transit time per camera pair and speed class starts from distance and the class's usual
speed (a log-normal around it, plus a flat tail for stops on the way) and is refined
online from confident matches: their log speeds move the pair's mean. Pure: numbers in,
numbers out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

NEIGHBOUR_FACTOR = 2.0


@dataclass(frozen=True, slots=True)
class SpeedClass:
    """How fast one kind of object moves between cameras (m/s)."""

    typical: float
    log_sd: float
    slowest: float
    fastest: float
    stop_share: float
    """Share of transits with a stop on the way (spread evenly in log speed below typical)."""


SPEEDS: Mapping[str, SpeedClass] = {
    "person": SpeedClass(typical=1.4, log_sd=0.25, slowest=0.25, fastest=4.5, stop_share=0.05),
    "bicycle": SpeedClass(typical=4.5, log_sd=0.3, slowest=0.4, fastest=15.0, stop_share=0.15),
    "vehicle": SpeedClass(typical=10.0, log_sd=0.28, slowest=0.4, fastest=45.0, stop_share=0.2),
}
VEHICLES = frozenset({"car", "truck", "bus", "motorcycle"})


def speed_group(cls: str) -> str:
    return "vehicle" if cls in VEHICLES else cls if cls in SPEEDS else "vehicle"


@dataclass(frozen=True, slots=True)
class CameraSpot:
    id: str
    x_m: float
    y_m: float


@dataclass(frozen=True)
class CameraGraph:
    """Camera pairs a tracklet can move between directly, with their distance (m)."""

    cameras: Mapping[str, CameraSpot]
    edges: Mapping[str, Mapping[str, float]]
    from_links: bool

    @classmethod
    def build(
        cls, cameras: Iterable[CameraSpot], links: Iterable[tuple[str, str, float]] = ()
    ) -> CameraGraph:
        spots = {c.id: c for c in cameras}
        edges: dict[str, dict[str, float]] = {c: {} for c in spots}
        links = list(links)
        for a, b, d in links:
            if a not in spots or b not in spots:
                raise ValueError(f"link {a} -> {b} names an unknown camera")
            if a == b or d <= 0:
                raise ValueError(f"link {a} -> {b}: needs two cameras and a positive distance")
            edges[a][b] = d
            edges[b].setdefault(a, d)  # a road joins both ways unless given otherwise
        if not links:
            edges = _neighbours(spots)
        return cls(cameras=spots, edges=edges, from_links=bool(links))

    def distance(self, a: str, b: str) -> float | None:
        return self.edges.get(a, {}).get(b)

    def nearest(self, camera: str) -> float:
        """Distance to the closest linked camera (inf if none)."""
        return min(self.edges.get(camera, {}).values(), default=math.inf)


def _dist(a: CameraSpot, b: CameraSpot) -> float:
    return math.hypot(a.x_m - b.x_m, a.y_m - b.y_m)


def _neighbours(spots: Mapping[str, CameraSpot]) -> dict[str, dict[str, float]]:
    ids = sorted(spots)
    d = {(a, b): _dist(spots[a], spots[b]) for a in ids for b in ids if a != b}
    nn = {a: min((d[a, b] for b in ids if b != a), default=math.inf) for a in ids}
    edges: dict[str, dict[str, float]] = {a: {} for a in ids}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            dab = d[a, b]
            gabriel = all(d[a, c] ** 2 + d[b, c] ** 2 > dab**2 for c in ids if c not in (a, b))
            close = dab <= NEIGHBOUR_FACTOR * max(nn[a], nn[b])
            if gabriel or close:
                edges[a][b] = edges[b][a] = dab
    return edges


def _normal_logpdf(x: float, mean: float, sd: float) -> float:
    z = (x - mean) / sd
    return -0.5 * z * z - math.log(sd * math.sqrt(2 * math.pi))


@dataclass
class PairStats:
    """Log speeds of confident matches on one camera pair and speed group."""

    n: float = 0.0
    total: float = 0.0


@dataclass
class TransitModel:
    """Gate and log-likelihood ratio of a transit time; learns each pair's speed online."""

    prior_weight: float = 8.0
    """How many confident matches the class's typical speed counts as."""
    stats: dict[tuple[str, str, str], PairStats] = field(default_factory=dict)

    @staticmethod
    def _key(a: str, b: str, group: str) -> tuple[str, str, str]:
        return (a, b, group) if a <= b else (b, a, group)

    def typical_log_speed(self, a: str, b: str, cls: str) -> float:
        group = speed_group(cls)
        prior = math.log(SPEEDS[group].typical)
        s = self.stats.get(self._key(a, b, group))
        if s is None or s.n == 0:
            return prior
        return (self.prior_weight * prior + s.total) / (self.prior_weight + s.n)

    def window(self, distance: float, cls: str) -> tuple[float, float]:
        """Shortest and longest plausible transit time (s) over ``distance``."""
        sp = SPEEDS[speed_group(cls)]
        return distance / sp.fastest, distance / sp.slowest

    def llr(self, a: str, b: str, cls: str, distance: float, gap: float) -> float | None:
        """Log-likelihood ratio of a ``gap``-second transit (same object vs. an unrelated
        arrival, uniform in time over the plausible window), or None outside the gate."""
        lo, hi = self.window(distance, cls)
        if gap < lo or gap > hi:
            return None
        sp = SPEEDS[speed_group(cls)]
        log_v = math.log(distance / gap)
        mean = self.typical_log_speed(a, b, cls)
        main = math.exp(_normal_logpdf(log_v, mean, sp.log_sd))
        span = math.log(sp.fastest / sp.slowest)
        stop = 1.0 / span if log_v <= mean else 0.0
        density_log_v = (1 - sp.stop_share) * main + sp.stop_share * stop
        # density in gap = density in log v / gap; the unrelated arrival: 1 / (hi - lo)
        return math.log(max(density_log_v, 1e-12) * (hi - lo) / gap)

    def learn(self, a: str, b: str, cls: str, distance: float, gap: float) -> None:
        """Fold a confident match in, unless it looks like a stop (slower than the tail)."""
        if gap <= 0:
            return
        group = speed_group(cls)
        log_v = math.log(distance / gap)
        mean = self.typical_log_speed(a, b, cls)
        if abs(log_v - mean) > 2.5 * SPEEDS[group].log_sd:
            return
        s = self.stats.setdefault(self._key(a, b, group), PairStats())
        s.n += 1
        s.total += log_v
