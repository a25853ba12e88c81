"""Counting lines and zones on one tracklet: its points in, hits out.

Pure logic: no Kafka, no clock, no I/O. The stream app keeps a ``Memory`` per open
tracklet (in its tracklet state) and calls ``step`` with each new point, the bottom-centre
of the tracklet's box in frame fractions (where the object touches the ground, as
DeepStream's and Frigate's zones use), and ``finish`` when the tracklet ends.

How a line crossing is decided:

* The move from the previous point to the new one crosses a segment of the line when the
  two points lie on different sides of it and the crossing point lies on the segment. A
  point exactly on the line counts as left of it (``civicsight.geometry.side``), so a box
  that touches the line and goes back never crosses. The crossing's direction is the
  side the move ends on, and its time is interpolated along the move: two lines crossed
  between two frames come out in the order they were crossed.
* A crossing counts only once the tracklet is *clear* of the line on the far side: at
  least ``margin`` (default 1 % of the frame) from every segment. Until then it is
  pending, and crossing back cancels it. A box whose bottom edge wobbles on the line
  therefore counts at most once, however often it jitters across, and a tracklet that
  really goes back counts again, the other way, once clear on the side it came from.
* A pending crossing still pending when the tracklet ends is dropped: it was never seen
  clear of the line.

A zone uses the same margin the other way round. A tracklet enters when its point is
inside the polygon and at least ``margin`` from its edge, and leaves when it is outside
and at least ``margin`` from the edge. Both times are those of the detections that
showed it (the margin delays both alike, so the dwell between them is not biased). A
tracklet first seen well inside a zone enters it there. A tracklet that ends inside a
zone leaves it at its last detection, with ``ended`` set, so that every enter has its
leave and occupancy never drifts.

Every hit gets the next number of its tracklet (``seq``), taken when the crossing is
first seen or the zone entered or left, so numbers follow capture time along the
tracklet. A crossing taken back uses a number up. Rules removed from the camera file
are forgotten without a hit; an open tracklet keeps its memory of rules that are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from civicsight import geometry
from civicsight.cameras import CountingLine, Rules

Point = tuple[float, float]
CLEAR_MARGIN = 0.01
"""How far (in frame fractions) past a line or a zone's edge a point must be to count."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A counting line crossed, or a zone entered or left, by one tracklet."""

    rule_id: str
    rule_kind: Literal["line", "zone"]
    action: Literal["cross", "enter", "leave"]
    at: float
    """capture time: the interpolated crossing instant, or the detection that showed it"""
    seq: int
    direction: str | None = None
    dwell_s: float | None = None
    ended: bool = False

    def to_json(self) -> list[Any]:
        return [
            self.rule_id,
            self.rule_kind,
            self.action,
            self.at,
            self.seq,
            self.direction,
            self.dwell_s,
            self.ended,
        ]

    @classmethod
    def from_json(cls, doc: Sequence[Any]) -> Hit:
        rule_id, rule_kind, action, at, seq, direction, dwell_s, ended = doc
        if rule_kind not in ("line", "zone") or action not in ("cross", "enter", "leave"):
            raise ValueError(f"not a rule hit: {rule_kind!r} {action!r}")
        return cls(
            rule_id=str(rule_id),
            rule_kind=rule_kind,
            action=action,
            at=float(at),
            seq=int(seq),
            direction=None if direction is None else str(direction),
            dwell_s=None if dwell_s is None else float(dwell_s),
            ended=bool(ended),
        )


@dataclass(frozen=True, slots=True)
class Pending:
    """A line crossing seen but not yet clear of the line."""

    side: int
    """+1: to the right of the line, -1: to the left"""
    at: float
    seq: int


@dataclass(frozen=True, slots=True)
class Memory:
    """What one tracklet's rules need to know about its past."""

    point: Point | None = None
    at: float | None = None
    pending: Mapping[str, Pending] | None = None
    """line id -> its crossing not yet clear"""
    inside: Mapping[str, float] | None = None
    """zone id -> when the tracklet entered it"""
    seq: int = 0
    """the last hit number used"""

    def to_json(self) -> dict[str, Any]:
        return {
            "p": None if self.point is None else list(self.point),
            "t": self.at,
            "pending": [[k, v.side, v.at, v.seq] for k, v in sorted((self.pending or {}).items())],
            "inside": [[k, v] for k, v in sorted((self.inside or {}).items())],
            "seq": self.seq,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Memory:
        point = doc["p"]
        return cls(
            point=None if point is None else (float(point[0]), float(point[1])),
            at=None if doc["t"] is None else float(doc["t"]),
            pending={str(k): Pending(int(s), float(t), int(n)) for k, s, t, n in doc["pending"]}
            or None,
            inside={str(k): float(t) for k, t in doc["inside"]} or None,
            seq=int(doc["seq"]),
        )


FRESH = Memory()
"""The memory of a tracklet the rules have not seen yet."""


def _crossings(line: CountingLine, p: Point, q: Point) -> list[tuple[float, int]]:
    """(fraction of the move, side it ends on) for each segment of ``line`` the move
    ``p -> q`` crosses."""
    out = []
    for a, b in geometry.segments(line.points):
        u = geometry.crossing(p, q, a, b)
        if u is not None:
            out.append((u, geometry.side(a, b, q)))
    return out


def step(
    rules: Rules, memory: Memory, point: Point, at: float, margin: float = CLEAR_MARGIN
) -> tuple[Memory, list[Hit]]:
    """Move one tracklet to ``point`` at capture time ``at``; the hits this move makes, in
    ``seq`` order. A point not after the last one (a repeat, or time going back) changes
    nothing."""
    if memory.at is not None and at <= memory.at:
        return memory, []
    lines = {line.id: line for line in rules.lines}
    pending = {k: v for k, v in (memory.pending or {}).items() if k in lines}
    zone_ids = {zone.id for zone in rules.zones}
    inside = {k: v for k, v in (memory.inside or {}).items() if k in zone_ids}
    seq = memory.seq
    hits: list[Hit] = []

    last, last_at = memory.point, memory.at
    if last is not None and last_at is not None and last != point:
        found = sorted(
            (u, i, line.id, side)
            for i, line in enumerate(rules.lines)
            for u, side in _crossings(line, last, point)
        )
        for u, _, line_id, side in found:
            held = pending.get(line_id)
            if held is None:
                seq += 1
                pending[line_id] = Pending(side, last_at + u * (at - last_at), seq)
            elif held.side != side:
                del pending[line_id]  # went back before it was clear: never crossed
            # same side again (a vertex shared by two segments): one crossing
    for line_id, held in sorted(pending.items(), key=lambda kv: kv[1].seq):
        line = lines[line_id]
        if geometry.distance(point, line.points) >= margin:
            hits.append(Hit(line_id, "line", "cross", held.at, held.seq, line.direction(held.side)))
            del pending[line_id]

    for zone in rules.zones:
        clear = geometry.distance(point, zone.polygon, closed=True) >= margin
        if not clear:
            continue
        within = geometry.contains(zone.polygon, point)
        if within and zone.id not in inside:
            seq += 1
            inside[zone.id] = at
            hits.append(Hit(zone.id, "zone", "enter", at, seq))
        elif not within and zone.id in inside:
            seq += 1
            entered = inside.pop(zone.id)
            hits.append(Hit(zone.id, "zone", "leave", at, seq, dwell_s=at - entered))

    memory = Memory(point, at, pending or None, inside or None, seq)
    return memory, sorted(hits, key=lambda h: h.seq)


def finish(rules: Rules, memory: Memory) -> tuple[Memory, list[Hit]]:
    """The tracklet ended: it leaves every zone it is in at its last detection (``ended``);
    crossings still pending are dropped."""
    at = memory.at
    if at is None or not memory.inside:
        return replace(memory, pending=None), []
    zones = {z.id for z in rules.zones}
    seq = memory.seq
    hits = []
    for zone_id, entered in sorted(memory.inside.items(), key=lambda kv: (kv[1], kv[0])):
        if zone_id in zones:
            seq += 1
            hits.append(Hit(zone_id, "zone", "leave", at, seq, dwell_s=at - entered, ended=True))
    return Memory(memory.point, at, None, None, seq), hits
