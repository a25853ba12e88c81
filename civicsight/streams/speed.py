"""Speed over a counting line, from one tracklet's path on a calibrated camera.

Pure logic: no Kafka, no clock, no I/O. A camera file may carry a ground-plane calibration
(``civicsight.cameras.GroundCalibration``: four image points and the same four points on
the road, in metres). The stream app then keeps, for each open tracklet of that camera,
a short trail of its box's bottom-centre (where it touches the road) with capture times
(``Trail``). When the tracklet crosses a counting line, the crossing waits (``Pending``)
until the trail reaches ``window / 2`` seconds past the crossing instant; then:

1. the trail's points within ``window / 2`` of the crossing are mapped to metres on the
   ground through the calibration's homography;
2. a straight line of position over time is fitted to them, x and y apart, by least
   squares; points further than 3 robust standard deviations (1.4826 median absolute
   deviations, at least 5 cm) from the fit are dropped and the fit is made once more, so
   one box that jumps (an occlusion, a merged box) does not bend it;
3. the speed is the length of the fitted velocity, in km/h (``Measured``).

A tracklet that ends before the window is full is measured on what it has, if that spans
at least ``MIN_SPAN_S`` with at least ``MIN_POINTS`` points; otherwise no speed is given.
A box that touches the frame's edge is cut by it, so its bottom-centre is not where the
object meets the road: such points are left out of the trail.

The fit averages the box noise over the window: with ``n`` points spread over ``W``
seconds the velocity's error falls as ``1 / (W * sqrt(n))``. The bottom-centre of a box
is where the object meets the road only approximately (a vehicle's box also holds its
body above the road, so its bottom edge shows the nearest wheels or bumper), and that
offset is constant as long as the object keeps its heading: it shifts positions, never
the slope of the fit. ``tests/unit/civicsight/streams/test_speed.py`` measures the error
on tracks of known speed through a known homography, with noise on the boxes.

A ``Measured`` speed never leaves the stream app: it goes into the speed distribution of
its line, class and bin (``streams.traffic_bins``), and only that distribution is sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from civicsight.geometry import Homography, project

Point = tuple[float, float]
DEFAULT_WINDOW_S = 2.0
"""Seconds of path around a crossing that one speed is fitted on."""
MIN_POINTS = 3
MIN_SPAN_S = 0.5
KEEP_EXTRA_S = 3.0
"""The trail also keeps this much more than the window: a crossing is known only once the
tracklet is clear of the line (and, for a new tracklet, confirmed), a little after it."""
MAX_TRAIL = 256
TRAIL_DECIMALS = 5
MS_TO_KMH = 3.6
OUTLIER_SIGMAS = 3.0
MIN_OUTLIER_M = 0.05


@dataclass(frozen=True, slots=True)
class Pending:
    """A line crossing whose speed waits for the path after it."""

    rule_id: str
    at: float
    seq: int
    cls: str


@dataclass(frozen=True, slots=True)
class Measured:
    """One tracklet's speed over one line (it stays inside the stream app)."""

    rule_id: str
    at: float
    """capture time of the crossing"""
    seq: int
    """the crossing's hit number (``RuleHit.seq``)"""
    cls: str
    kmh: float


@dataclass(frozen=True, slots=True)
class Trail:
    """One tracklet's recent bottom-centres (capture time, x, y in frame fractions) and
    the crossings that wait for their speed."""

    points: tuple[tuple[float, float, float], ...] = ()
    pending: tuple[Pending, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "p": [list(p) for p in self.points],
            "w": [[c.rule_id, c.at, c.seq, c.cls] for c in self.pending],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Trail:
        return cls(
            points=tuple((float(t), float(x), float(y)) for t, x, y in doc["p"]),
            pending=tuple(Pending(str(r), float(a), int(s), str(c)) for r, a, s, c in doc["w"]),
        )


NO_TRAIL = Trail()


def fit_speed(samples: Sequence[tuple[float, float, float]]) -> float | None:
    """Metres per second from (time, x metres, y metres) samples: the length of the
    least-squares velocity, refitted once without outliers (see the module doc). None
    with fewer than ``MIN_POINTS`` samples or under ``MIN_SPAN_S`` seconds."""
    if len(samples) < MIN_POINTS:
        return None
    a = np.asarray(samples, dtype=float)
    t = a[:, 0] - a[:, 0].mean()
    if float(t.max() - t.min()) < MIN_SPAN_S:
        return None
    keep = np.ones(len(a), dtype=bool)
    for _ in range(2):
        tt = t[keep] - t[keep].mean()
        denom = float(tt @ tt)
        if denom <= 0:
            return None
        vx = float(tt @ (a[keep, 1] - a[keep, 1].mean())) / denom
        vy = float(tt @ (a[keep, 2] - a[keep, 2].mean())) / denom
        cx = a[keep, 1].mean() - vx * t[keep].mean()
        cy = a[keep, 2].mean() - vy * t[keep].mean()
        residual = np.hypot(a[:, 1] - (cx + vx * t), a[:, 2] - (cy + vy * t))
        spread = 1.4826 * float(np.median(np.abs(residual[keep])))
        wanted = residual <= max(OUTLIER_SIGMAS * spread, MIN_OUTLIER_M)
        if wanted.sum() < MIN_POINTS or (wanted == keep).all():
            break
        keep = wanted
    return math.hypot(vx, vy)


def measure(
    trail: Trail, crossing: Pending, h: Homography, window: float = DEFAULT_WINDOW_S
) -> Measured | None:
    """The speed over ``crossing`` from the trail's points within ``window / 2`` of it."""
    half = window / 2
    samples = []
    for t, x, y in trail.points:
        if abs(t - crossing.at) <= half + 1e-9:
            try:
                gx, gy = project(h, (x, y))
            except ValueError:
                continue  # on the horizon: not on the road
            samples.append((t, gx, gy))
    speed = fit_speed(samples)
    if speed is None:
        return None
    return Measured(crossing.rule_id, crossing.at, crossing.seq, crossing.cls, speed * MS_TO_KMH)


def advance(
    trail: Trail,
    at: float,
    point: Point | None,
    crossings: Sequence[Pending],
    h: Homography,
    window: float = DEFAULT_WINDOW_S,
) -> tuple[Trail, list[Measured]]:
    """A frame at ``at`` showed the tracklet with its bottom-centre at ``point`` (None: a
    box cut by the frame's edge, whose bottom-centre is not where it touches the road):
    keep the point, add the ``crossings`` it has just made known, and measure those whose
    window ``at`` has passed. A point not after the last one is not kept."""
    points = trail.points
    if point is not None and (not points or at > points[-1][0]):
        p = (at, round(point[0], TRAIL_DECIMALS), round(point[1], TRAIL_DECIMALS))
        points = (*points, p)
    pending = (*trail.pending, *crossings)
    done: list[Measured] = []
    waiting: list[Pending] = []
    for c in pending:
        if at >= c.at + window / 2:
            found = measure(Trail(points), c, h, window)
            if found is not None:
                done.append(found)
        else:
            waiting.append(c)
    oldest = min([at - window - KEEP_EXTRA_S, *(c.at - window / 2 for c in waiting)])
    points = tuple(p for p in points if p[0] >= oldest)[-MAX_TRAIL:]
    return replace(trail, points=points, pending=tuple(waiting)), done


def finish(trail: Trail, h: Homography, window: float = DEFAULT_WINDOW_S) -> list[Measured]:
    """The tracklet ended: measure its waiting crossings on the path it has."""
    out = []
    for c in trail.pending:
        found = measure(trail, c, h, window)
        if found is not None:
            out.append(found)
    return out
