"""Traffic bins of one camera: its frames, rule hits and speeds in, 15-minute rows out.

Pure logic: no Kafka, no clock, no I/O. The stream app keeps one ``CameraTraffic`` per
camera in a changelog-backed table (``streams.traffic_processor``), feeds it what the
tracklet processor saw (``frame``, ``hit``, ``speed``) in the order it saw it, and sends
the rows of the bins that changed (``take_rows``) as ``TrafficBins`` messages. Numbers are
counted once, as hits arrive, and are never recomputed from tracks.

What is counted, per camera and aligned 15-minute bin (``civicsight.traffic.BIN_S``):

* ``CameraBin``: whether frames arrived in the bin (``up``). When frames come again after
  a pause longer than ``max_gap_s``, the whole bins in between get ``up=False``.
* ``CountBin``: crossings of each counting line, per direction and class, in the bin of
  the crossing instant.
* ``ZoneBin``: per zone and class, entries (bin of the enter), exits and dwell
  percentiles (bin of the leave), and occupancy: the number of tracklets inside,
  integrated over the time the camera was watching (frames less than ``max_gap_s``
  apart), as a time-weighted mean and a maximum over the bin. A tracklet stays in the
  class it entered with until it leaves, so a class vote that flips while inside never
  leaves one class with a phantom occupant. A leave sent because the tracklet ended
  inside (``ended``) is an exit too; its dwell is then a lower bound.
* ``TurnBin``: the first and the last line one tracklet crossed (entry leg -> exit leg), by
  class, in the bin of the exit crossing. It is counted as soon as a second line is
  crossed and moved if a later line is crossed (the earlier exit's count goes down
  again, so a row can read 0); a tracklet that crossed one line only makes no turn.
* ``SpeedBin``: the distribution (count, 15th, 50th and 85th percentile, linear
  interpolation) of the speeds measured over each line of a calibrated camera
  (``streams.speed``), per class, in the bin of the crossing. Speeds are kept as counts
  per 0.1 km/h (dwell times per 0.1 s up to a minute, per second up to ten minutes, then
  per ten seconds), so a bin's memory stays bounded however busy the road.

**Null versus 0.** Only what happened is stored: a row per (line, direction, class),
(zone, class), (entry, exit, class) and (line, class) that saw something in the bin, and
one ``CameraBin`` per camera and bin. A reader fills zeros from the camera's rules for the
bins whose ``CameraBin`` says ``up=True`` (the camera worked and saw nothing there), and
reads every number of a bin as ``null`` (unknown) when its ``CameraBin`` says
``up=False`` or there is none (``civicsight.traffic.bins_up``).

**Repeats.** A hit is identified by ``(camera_id, track_id, seq)`` and ``seq`` increases
along a tracklet, so the state remembers per tracklet the last ``seq`` counted and drops a
hit at or below it (a hit sent again after a restart); speeds likewise, apart. A
tracklet's memory is dropped ``TRACK_MEMORY_S`` of camera time after its last hit, unless
it is inside a zone.

**Settling.** A bin stays open until the camera's clock (its newest frame, run on by wall
time while no frame comes) is ``settle_s`` past the bin's end; its rows are then sent a
last time and it is dropped. A hit or speed that arrives for a bin already settled is
dropped and counted (``late``): sending it would overwrite the stored row with a partial
one.

Rows are sent for the bins that changed at most every ``emit_s`` seconds of wall time per
camera. A bin that settles goes out at once, changed or not: the table marks rows sent
before the message carrying them is delivered, so a crash in between could otherwise leave
the store a bin behind.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from civicsight.events import ObjectClass, RuleHit
from civicsight.streams.tracklets import SpeedSample
from civicsight.traffic import (
    BIN_S,
    CameraBin,
    CountBin,
    SpeedBin,
    StreamRow,
    TurnBin,
    ZoneBin,
    bin_start,
)

STATE_FORMAT = 1
TRACK_MEMORY_S = 900.0
"""Camera seconds a tracklet's memory (last hit number, entry leg) outlives its last hit."""
MAX_DOWN_BINS = 7 * 24 * 4
"""At most this many whole bins (a week) are marked down after a pause."""
DEFAULT_SETTLE_S = 60.0
DEFAULT_EMIT_S = 5.0
DEFAULT_MAX_GAP_S = 10.0

Histogram = dict[float, int]
"""value (rounded) -> how many times it was seen"""


def speed_key(kmh: float) -> float:
    return round(kmh, 1)


def dwell_key(seconds: float) -> float:
    if seconds < 60:
        return round(seconds, 1)
    if seconds < 600:
        return float(round(seconds))
    return float(round(seconds, -1))


def quantile(histogram: Mapping[float, int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of the values a histogram holds, interpolated linearly
    between order statistics (numpy's default); None when it is empty."""
    n = sum(histogram.values())
    if n == 0:
        return None
    pos = (n - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    values: dict[int, float] = {}
    seen = 0
    for value, k in sorted(histogram.items()):
        for index in (lo, hi):
            if seen <= index < seen + k:
                values[index] = value
        seen += k
        if hi in values:
            break
    return round(values[lo] + (values[hi] - values[lo]) * (pos - lo), 3)


def spread(t0: float, t1: float) -> Iterator[tuple[float, float]]:
    """(bin start, seconds) of the interval ``[t0, t1)`` cut at bin edges."""
    t = t0
    while t < t1:
        b = bin_start(t)
        end = min(t1, b + BIN_S)
        yield b, end - t
        t = end


@dataclass(slots=True)
class ZoneAcc:
    """One zone, one class, one bin."""

    entries: int = 0
    exits: int = 0
    area: float = 0.0
    """occupant-seconds inside during the bin"""
    peak: int = 0
    dwell: Histogram = field(default_factory=dict)


@dataclass(slots=True)
class BinAcc:
    """What one camera's bin holds until it settles."""

    up: bool = False
    observed_s: float = 0.0
    """seconds the camera was watching (between frames at most ``max_gap_s`` apart)"""
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    zones: dict[tuple[str, str], ZoneAcc] = field(default_factory=dict)
    turns: dict[tuple[str, str, str], int] = field(default_factory=dict)
    speeds: dict[tuple[str, str], Histogram] = field(default_factory=dict)

    def zone(self, zone: str, cls: str) -> ZoneAcc:
        acc = self.zones.get((zone, cls))
        if acc is None:
            acc = self.zones[(zone, cls)] = ZoneAcc()
        return acc


@dataclass(slots=True)
class TrackMemo:
    """What the bins remember of one tracklet."""

    last_at: float
    seq: int = 0
    """the last hit number counted"""
    speed_seq: int = 0
    """the hit number of the last crossing whose speed was counted"""
    entry: str | None = None
    """the first line it crossed"""
    turn: tuple[str, float, str] | None = None
    """(exit line, bin, class) of the turn counted for it"""
    zones: dict[str, str] = field(default_factory=dict)
    """zone -> the class it entered with, while inside"""


@dataclass(slots=True)
class CameraTraffic:
    """One camera's open bins and what they need to go on (see the module doc). Mutable:
    the stream app decodes it, feeds it a batch, and encodes it once."""

    camera_id: str
    clock: float | None = None
    """capture time of the newest frame (occupancy is integrated up to it)"""
    clock_wall: float | None = None
    """wall time that frame came"""
    sealed: float | None = None
    """bins starting before this have settled: their rows are final"""
    emitted_wall: float | None = None
    late: int = 0
    """hits and speeds that came after their bin settled (dropped)"""
    bins: dict[float, BinAcc] = field(default_factory=dict)
    inside: dict[tuple[str, str], int] = field(default_factory=dict)
    """(zone, class) -> tracklets inside now"""
    tracks: dict[int, TrackMemo] = field(default_factory=dict)
    dirty: set[float] = field(default_factory=set)
    """bins changed since their rows were last taken"""

    # -- input -----------------------------------------------------------------------------

    def _open(self, b: float) -> BinAcc | None:
        """The bin starting at ``b``, created if need be; None once it has settled."""
        if self.sealed is not None and b < self.sealed:
            return None
        acc = self.bins.get(b)
        if acc is None:
            acc = self.bins[b] = BinAcc()
        return acc

    def frame(self, captured_at: float, wall: float, max_gap_s: float = DEFAULT_MAX_GAP_S) -> None:
        """A frame of the camera arrived (with or without detections)."""
        t = captured_at
        if self.clock is None or t > self.clock:
            if self.clock is not None:
                if t - self.clock <= max_gap_s:
                    self._integrate(self.clock, t)
                else:
                    self._down_between(self.clock, t)
            self.clock, self.clock_wall = t, wall
        acc = self._open(bin_start(t))
        if acc is not None and not acc.up:
            acc.up = True
            self.dirty.add(bin_start(t))

    def _down_between(self, t0: float, t1: float) -> None:
        """The camera sent nothing from ``t0`` to ``t1``: the whole bins between are down."""
        first = bin_start(t0) + BIN_S
        last = bin_start(t1)
        b = max(first, last - MAX_DOWN_BINS * BIN_S)
        while b < last:
            if self._open(b) is not None:
                self.dirty.add(b)
            b += BIN_S

    def _integrate(self, t0: float, t1: float) -> None:
        """The camera watched from ``t0`` to ``t1``: add the time, and the occupants
        inside, to the bins."""
        for b, seconds in spread(t0, t1):
            acc = self._open(b)
            if acc is None:
                continue
            acc.observed_s += seconds
            for (zone, cls), n in self.inside.items():
                z = acc.zone(zone, cls)
                z.area += n * seconds
                z.peak = max(z.peak, n)
            if acc.zones:
                self.dirty.add(b)

    def _occupy(self, zone: str, cls: str, delta: int, at: float) -> None:
        """One tracklet more (``delta`` 1) or fewer (-1) inside from ``at`` on. Occupancy
        is integrated up to the newest frame; a hit stamped earlier (a leave sent when the
        tracklet timed out, an enter held until it was confirmed) corrects the bins."""
        key = (zone, cls)
        n = max(0, self.inside.get(key, 0) + delta)
        if n:
            self.inside[key] = n
        else:
            self.inside.pop(key, None)
        if self.clock is not None and at < self.clock:
            for b, seconds in spread(at, self.clock):
                acc = self._open(b)
                if acc is None:
                    continue
                z = acc.zone(zone, cls)
                z.area = max(0.0, z.area + delta * seconds)
                z.peak = max(z.peak, n)
                self.dirty.add(b)
        acc = self._open(bin_start(at))
        if acc is not None:
            z = acc.zone(zone, cls)
            z.peak = max(z.peak, n)

    def _memo(self, track_id: int, at: float) -> TrackMemo:
        memo = self.tracks.get(track_id)
        if memo is None:
            memo = self.tracks[track_id] = TrackMemo(last_at=at)
        memo.last_at = max(memo.last_at, at)
        return memo

    def hit(self, hit: RuleHit) -> bool:
        """Count one rule hit; False when it is a repeat or came after its bin settled."""
        if hit.camera_id != self.camera_id:
            raise ValueError(f"hit of {hit.camera_id} given to {self.camera_id}'s bins")
        known = self.tracks.get(hit.track_id)
        if known is not None and hit.seq <= known.seq:
            return False
        memo = self._memo(hit.track_id, hit.captured_at)
        memo.seq = hit.seq
        b = bin_start(hit.captured_at)
        acc = self._open(b)
        if acc is None:
            self.late += 1
            if hit.action == "leave" and hit.rule_id in memo.zones:  # it left all the same
                self._occupy(hit.rule_id, memo.zones.pop(hit.rule_id), -1, hit.captured_at)
            return False
        self.dirty.add(b)
        if hit.action == "cross":
            assert hit.direction is not None  # RuleHit: a crossing names its direction
            key = (hit.rule_id, hit.direction, hit.cls)
            acc.counts[key] = acc.counts.get(key, 0) + 1
            self._turn(memo, hit.rule_id, b, hit.cls)
        elif hit.action == "enter":
            if hit.rule_id in memo.zones:  # entered twice without a leave: keep the first
                return True
            memo.zones[hit.rule_id] = hit.cls
            acc.zone(hit.rule_id, hit.cls).entries += 1
            self._occupy(hit.rule_id, hit.cls, 1, hit.captured_at)
        else:
            was_inside = hit.rule_id in memo.zones
            cls = memo.zones.pop(hit.rule_id, hit.cls)
            z = acc.zone(hit.rule_id, cls)
            z.exits += 1
            if hit.dwell_s is not None:
                k = dwell_key(hit.dwell_s)
                z.dwell[k] = z.dwell.get(k, 0) + 1
            if was_inside:
                self._occupy(hit.rule_id, cls, -1, hit.captured_at)
        return True

    def _turn(self, memo: TrackMemo, line: str, b: float, cls: str) -> None:
        if memo.entry is None:
            memo.entry = line
            return
        if memo.turn is not None:
            exit0, b0, cls0 = memo.turn
            acc0 = self._open(b0)
            if acc0 is None:
                return  # its turn went out with a settled bin: it stays as it was
            key0 = (memo.entry, exit0, cls0)
            acc0.turns[key0] = max(0, acc0.turns.get(key0, 0) - 1)
            self.dirty.add(b0)
        acc = self._open(b)
        assert acc is not None  # the caller just opened it
        key = (memo.entry, line, cls)
        acc.turns[key] = acc.turns.get(key, 0) + 1
        memo.turn = (line, b, cls)

    def speed(self, sample: SpeedSample) -> bool:
        """Add one measured speed to its line's distribution; False when it is a repeat or
        came after its bin settled."""
        if sample.camera_id != self.camera_id:
            raise ValueError(f"speed of {sample.camera_id} given to {self.camera_id}'s bins")
        known = self.tracks.get(sample.track_id)
        if known is not None and sample.seq <= known.speed_seq:
            return False
        memo = self._memo(sample.track_id, sample.at)
        memo.speed_seq = sample.seq
        b = bin_start(sample.at)
        acc = self._open(b)
        if acc is None:
            self.late += 1
            return False
        histogram = acc.speeds.setdefault((sample.rule_id, sample.cls), {})
        k = speed_key(sample.kmh)
        histogram[k] = histogram.get(k, 0) + 1
        self.dirty.add(b)
        return True

    def keep_zones(self, zone_ids: Collection[str]) -> None:
        """Zones removed from the camera file: nobody is inside them any more (their
        tracklets will never send a leave)."""
        gone = {zone for zone, _ in self.inside} - set(zone_ids)
        if not gone:
            return
        at = self.clock if self.clock is not None else 0.0
        for memo in self.tracks.values():
            for zone in gone & memo.zones.keys():
                self._occupy(zone, memo.zones.pop(zone), -1, at)
        for key in [k for k in self.inside if k[0] in gone]:
            del self.inside[key]

    # -- output ----------------------------------------------------------------------------

    def camera_time(self, wall: float) -> float | None:
        """The camera's clock at wall time ``wall``: its newest frame's capture time run on
        by the wall time since that frame came."""
        if self.clock is None or self.clock_wall is None:
            return None
        return self.clock + max(0.0, wall - self.clock_wall)

    def take_rows(
        self,
        wall: float,
        emit_s: float = DEFAULT_EMIT_S,
        settle_s: float = DEFAULT_SETTLE_S,
    ) -> list[StreamRow]:
        """Settle the bins the camera's clock has left ``settle_s`` behind, and give the
        rows of every changed bin if ``emit_s`` has passed since the last rows were given
        (at once when a bin settles), and of every settled bin. Settled bins are then
        forgotten."""
        now = self.camera_time(wall)
        settled = []
        if now is not None:
            settled = sorted(b for b in self.bins if b + BIN_S + settle_s <= now)
            if settled:
                self.sealed = max(self.sealed or -math.inf, settled[-1] + BIN_S)
            self._forget_tracks(now)
        due = bool(self.dirty) and (
            self.emitted_wall is None or wall - self.emitted_wall >= emit_s or bool(settled)
        )
        rows: list[StreamRow] = []
        if due or settled:
            # a settled bin goes out once more even unchanged: rows marked sent whose
            # message was lost in a crash are made good at the latest here
            for b in sorted(self.dirty | set(settled) if due else set(settled)):
                if b in self.bins:
                    rows.extend(self.rows(b))
            if due:
                self.dirty.clear()
                self.emitted_wall = wall
        for b in settled:
            del self.bins[b]
            self.dirty.discard(b)
        return rows

    def _forget_tracks(self, now: float) -> None:
        for tid in [
            tid
            for tid, m in self.tracks.items()
            if not m.zones and m.last_at < now - TRACK_MEMORY_S
        ]:
            del self.tracks[tid]

    def rows(self, b: float) -> list[StreamRow]:
        """The rows of the open bin starting at ``b``, in a stable order."""
        acc = self.bins[b]
        cam = self.camera_id
        out: list[StreamRow] = [CameraBin(bin_start=b, camera=cam, up=acc.up)]
        for (rule, direction, cls), n in sorted(acc.counts.items()):
            out.append(
                CountBin(
                    bin_start=b, camera=cam, rule=rule, direction=direction, cls=_c(cls), count=n
                )
            )
        for (zone, cls), z in sorted(acc.zones.items()):
            out.append(
                ZoneBin(
                    bin_start=b,
                    camera=cam,
                    zone=zone,
                    cls=_c(cls),
                    entries=z.entries,
                    exits=z.exits,
                    occupancy_mean=round(z.area / acc.observed_s, 4) if acc.observed_s else 0.0,
                    occupancy_max=z.peak,
                    dwell_count=sum(z.dwell.values()),
                    dwell_p50_s=quantile(z.dwell, 0.5),
                    dwell_p90_s=quantile(z.dwell, 0.9),
                )
            )
        for (entry, exit_, cls), n in sorted(acc.turns.items()):
            out.append(
                TurnBin(bin_start=b, camera=cam, entry=entry, exit=exit_, cls=_c(cls), count=n)
            )
        for (rule, cls), histogram in sorted(acc.speeds.items()):
            out.append(
                SpeedBin(
                    bin_start=b,
                    camera=cam,
                    rule=rule,
                    cls=_c(cls),
                    count=sum(histogram.values()),
                    p15_kmh=quantile(histogram, 0.15),
                    p50_kmh=quantile(histogram, 0.5),
                    p85_kmh=quantile(histogram, 0.85),
                )
            )
        return out

    # -- serialisation ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "camera_id": self.camera_id,
            "clock": [self.clock, self.clock_wall],
            "sealed": self.sealed,
            "emitted": self.emitted_wall,
            "late": self.late,
            "inside": [[z, c, n] for (z, c), n in sorted(self.inside.items())],
            "tracks": [
                [
                    tid,
                    m.last_at,
                    m.seq,
                    m.speed_seq,
                    m.entry,
                    None if m.turn is None else list(m.turn),
                    sorted([z, c] for z, c in m.zones.items()),
                ]
                for tid, m in sorted(self.tracks.items())
            ],
            "dirty": sorted(self.dirty),
            "bins": [_bin_to_json(b, acc) for b, acc in sorted(self.bins.items())],
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CameraTraffic:
        if doc["format"] != STATE_FORMAT:
            raise ValueError(f"traffic state: unknown format {doc['format']!r}")
        clock, clock_wall = doc["clock"]
        return cls(
            camera_id=str(doc["camera_id"]),
            clock=_opt(clock),
            clock_wall=_opt(clock_wall),
            sealed=_opt(doc["sealed"]),
            emitted_wall=_opt(doc["emitted"]),
            late=int(doc["late"]),
            inside={(str(z), str(c)): int(n) for z, c, n in doc["inside"]},
            tracks={
                int(tid): TrackMemo(
                    last_at=float(last_at),
                    seq=int(seq),
                    speed_seq=int(speed_seq),
                    entry=None if entry is None else str(entry),
                    turn=None if turn is None else (str(turn[0]), float(turn[1]), str(turn[2])),
                    zones={str(z): str(c) for z, c in zones},
                )
                for tid, last_at, seq, speed_seq, entry, turn, zones in doc["tracks"]
            },
            dirty={float(b) for b in doc["dirty"]},
            bins=dict(_bin_from_json(d) for d in doc["bins"]),
        )


def _c(cls: str) -> ObjectClass:
    return cast(ObjectClass, cls)


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def _histogram_to_json(h: Histogram) -> list[list[float]]:
    return [[v, n] for v, n in sorted(h.items())]


def _histogram_from_json(doc: Any) -> Histogram:
    return {float(v): int(n) for v, n in doc}


def _bin_to_json(b: float, acc: BinAcc) -> list[Any]:
    return [
        b,
        acc.up,
        acc.observed_s,
        [[r, d, c, n] for (r, d, c), n in sorted(acc.counts.items())],
        [
            [z, c, a.entries, a.exits, a.area, a.peak, _histogram_to_json(a.dwell)]
            for (z, c), a in sorted(acc.zones.items())
        ],
        [[e, x, c, n] for (e, x, c), n in sorted(acc.turns.items())],
        [[r, c, _histogram_to_json(h)] for (r, c), h in sorted(acc.speeds.items())],
    ]


def _bin_from_json(doc: Any) -> tuple[float, BinAcc]:
    b, up, observed, counts, zones, turns, speeds = doc
    return float(b), BinAcc(
        up=bool(up),
        observed_s=float(observed),
        counts={(str(r), str(d), str(c)): int(n) for r, d, c, n in counts},
        zones={
            (str(z), str(c)): ZoneAcc(
                int(entries), int(exits), float(area), int(peak), _histogram_from_json(dwell)
            )
            for z, c, entries, exits, area, peak, dwell in zones
        },
        turns={(str(e), str(x), str(c)): int(n) for e, x, c, n in turns},
        speeds={(str(r), str(c)): _histogram_from_json(h) for r, c, h in speeds},
    )
