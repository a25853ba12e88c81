"""Plane geometry on normalised image points, for counting lines and zones.

Points are ``(x, y)`` in image coordinates: x to the right, y *down*, both 0-1 of the
frame. With y down, a positive cross product ``cross(a, b, p)`` puts ``p`` on the
right-hand side of ``a -> b`` as seen on screen (facing from ``a`` to ``b``). The camera
files (``civicsight.cameras``) validate with these functions and the stream app
(``streams.rules``) evaluates with them, so both read a line the same way.

A camera's ground-plane calibration maps image points to metres on the road with a
homography (``homography``, ``project``): four image points and the four ground points
they show, no three of either on one line (``nearly_collinear``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]
Homography = tuple[float, float, float, float, float, float, float, float, float]
"""A plane-to-plane projective map as its 3x3 matrix, row by row."""


def cross(a: Point, b: Point, p: Point) -> float:
    """(b - a) x (p - a): > 0 when ``p`` is right of ``a -> b`` on screen, < 0 left, 0 on it."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def side(a: Point, b: Point, p: Point) -> int:
    """+1 right of ``a -> b`` on screen, -1 left. A point exactly on the line counts as
    left, so that touching the line and going back is never a crossing."""
    return 1 if cross(a, b, p) > 0 else -1


def crossing(p: Point, q: Point, a: Point, b: Point) -> float | None:
    """Where the move ``p -> q`` crosses the segment ``a b``, as a fraction of the move
    (0 at ``p``, 1 at ``q``); None if it does not cross (sides as in ``side``: ending on
    the segment is not crossing it, leaving it to the right is)."""
    ab2 = (b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2
    if ab2 == 0.0:
        return None
    cp, cq = cross(a, b, p), cross(a, b, q)
    if (cp > 0) == (cq > 0):
        return None
    u = cp / (cp - cq)
    x = (p[0] + u * (q[0] - p[0]), p[1] + u * (q[1] - p[1]))
    v = ((x[0] - a[0]) * (b[0] - a[0]) + (x[1] - a[1]) * (b[1] - a[1])) / ab2
    return u if 0.0 <= v <= 1.0 else None


def distance_to_segment(p: Point, a: Point, b: Point) -> float:
    ab2 = (b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2
    t = 0.0
    if ab2 > 0:
        t = ((p[0] - a[0]) * (b[0] - a[0]) + (p[1] - a[1]) * (b[1] - a[1])) / ab2
        t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - (a[0] + t * (b[0] - a[0])), p[1] - (a[1] + t * (b[1] - a[1])))


def segments(points: Sequence[Point], closed: bool = False) -> list[tuple[Point, Point]]:
    """Consecutive pairs of ``points``; with ``closed``, the last joined to the first."""
    pairs = list(itertools.pairwise(points))
    if closed and len(points) > 2:
        pairs.append((points[-1], points[0]))
    return pairs


def distance(p: Point, points: Sequence[Point], closed: bool = False) -> float:
    """Shortest distance from ``p`` to a polyline (or, ``closed``, a polygon's edge)."""
    if len(points) == 1:
        return math.dist(p, points[0])
    return min(distance_to_segment(p, a, b) for a, b in segments(points, closed))


def contains(polygon: Sequence[Point], p: Point) -> bool:
    """Whether ``p`` is inside ``polygon`` (even-odd rule; a point on an edge may go either
    way, which the rules' margin makes harmless)."""
    inside = False
    x, y = p
    for (x1, y1), (x2, y2) in segments(polygon, closed=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def area(polygon: Sequence[Point]) -> float:
    """Unsigned area (shoelace)."""
    pairs = segments(polygon, closed=True)
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in pairs)) / 2


def _orient(a: Point, b: Point, p: Point) -> int:
    c = cross(a, b, p)
    return (c > 0) - (c < 0)


def _on_segment(a: Point, b: Point, p: Point) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_touch(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether segments ``a b`` and ``c d`` share any point (touching counts)."""
    o1, o2, o3, o4 = _orient(a, b, c), _orient(a, b, d), _orient(c, d, a), _orient(c, d, b)
    if o1 != o2 and o3 != o4 and 0 not in (o1, o2, o3, o4):
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def self_crossing(points: Sequence[Point], closed: bool = False) -> tuple[int, int] | None:
    """The first two edges (by index) of a polyline or polygon that cross, touch or fold
    back on each other; None when it is simple. Edge ``i`` joins point ``i`` to ``i + 1``."""
    edges = segments(points, closed)
    n = len(edges)
    for i in range(n):
        for j in range(i + 1, n):
            (a, b), (c, d) = edges[i], edges[j]
            if j == i + 1 or (closed and i == 0 and j == n - 1):
                # neighbours share a point; they only clash when one folds back on the other
                shared, p, q = (b, a, d) if j == i + 1 else (a, b, c)
                folds = cross(p, shared, q) == 0 and (
                    (p[0] - shared[0]) * (q[0] - shared[0])
                    + (p[1] - shared[1]) * (q[1] - shared[1])
                    > 0
                )
                if folds:
                    return i, j
            elif segments_touch(a, b, c, d):
                return i, j
    return None


# -- ground-plane homography ---------------------------------------------------------------

COLLINEAR_TOLERANCE = 0.01
"""Three points are too nearly on one line when the third lies closer than this share of
the longest side to the line through the other two."""


def nearly_collinear(a: Point, b: Point, c: Point, tolerance: float = COLLINEAR_TOLERANCE) -> bool:
    """Whether ``a``, ``b``, ``c`` lie (nearly) on one line: the triangle's least height is
    under ``tolerance`` times its longest side (a repeated point is collinear too)."""
    longest = max(math.dist(a, b), math.dist(b, c), math.dist(c, a))
    if longest == 0.0:
        return True
    # twice the area over the longest side is the height onto that side (the least one)
    return abs(cross(a, b, c)) / longest < tolerance * longest


def homography(src: Sequence[Point], dst: Sequence[Point]) -> Homography:
    """The projective map taking the four ``src`` points onto the four ``dst`` points
    (direct linear transform on normalised points). Raises ``ValueError`` when three points
    of either set lie on one line: no map is then defined."""
    if len(src) != 4 or len(dst) != 4:
        raise ValueError("a homography needs exactly four point pairs")
    for points in (src, dst):
        for i, j, k in itertools.combinations(range(4), 3):
            if nearly_collinear(points[i], points[j], points[k]):
                raise ValueError(f"points {i}, {j} and {k} lie on one line")
    s, _ = _normaliser(src)
    d, d_inv = _normaliser(dst)
    rows = []
    for (x, y), (u, v) in zip(_apply(s, src), _apply(d, dst), strict=True):
        rows.append([-x, -y, -1.0, 0.0, 0.0, 0.0, u * x, u * y, u])
        rows.append([0.0, 0.0, 0.0, -x, -y, -1.0, v * x, v * y, v])
    h = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 3)
    m = d_inv @ h @ s
    m = m / np.linalg.norm(m)
    if m[2] @ np.array([*src[0], 1.0]) < 0:
        m = -m
    return tuple(float(v) for v in m.ravel())  # type: ignore[return-value]


def _normaliser(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    """A similarity moving ``points`` to their centroid, mean distance sqrt(2), and back."""
    p = np.asarray(points, dtype=float)
    centre = p.mean(axis=0)
    scale = math.sqrt(2) / max(float(np.linalg.norm(p - centre, axis=1).mean()), 1e-12)
    t = np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])
    t_inv = np.array([[1 / scale, 0, centre[0]], [0, 1 / scale, centre[1]], [0, 0, 1]])
    return t, t_inv


def _apply(m: np.ndarray, points: Sequence[Point]) -> list[Point]:
    out = []
    for x, y in points:
        u, v, w = m @ np.array([x, y, 1.0])
        out.append((float(u / w), float(v / w)))
    return out


def depth(h: Homography, p: Point) -> float:
    """The third homogeneous coordinate of ``p`` under ``h``: its sign tells which side of
    the horizon (the line ``h`` sends to infinity) ``p`` lies on."""
    return h[6] * p[0] + h[7] * p[1] + h[8]


def project(h: Homography, p: Point) -> Point:
    """``p`` mapped by ``h`` (image fractions to ground metres, for a calibration)."""
    w = depth(h, p)
    if w == 0.0:
        raise ValueError(f"{p} lies on the horizon: it has no place on the ground")
    return ((h[0] * p[0] + h[1] * p[1] + h[2]) / w, (h[3] * p[0] + h[4] * p[1] + h[5]) / w)
