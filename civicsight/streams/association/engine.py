"""The cross-camera association: tracklets in, versioned global tracks out.

Pure and incremental. Nothing here reads a clock or a broker: event times come in with
the inputs, and every call returns the track changes it caused. The stream app feeds it
from Kafka and persists its inputs in a table; ``streams.eval_mtmc`` feeds it straight
from a scenario file.

The flow of one tracklet:

1. While it is open, its appearance embeddings and plate reads are summed up
   (``add_appearance``, ``add_plate``), whatever order they arrive in.
2. When it closes (``close``) it waits: it is *released* once every source's clock
   (``advance``: the stream app's partitions) has passed its end by ``settle`` seconds, so
   that every tracklet that could precede it has closed as well. Released tracklets are
   decided in order of their end time, so decisions do not depend on how the inputs
   interleaved.
3. The decision scores every track whose last tracklet could be followed by this one:
   the camera graph and transit time gate and score the gap (``transit``), appearance
   compares the track's mean (all its tracklets, camera shifts removed) with the
   tracklet's (``appearance``), plates compare reads with OCR confusions in mind
   (``plates``), and a different class weighs against. The sum of these log-likelihood
   ratios minus ``link_prior`` picks the best track, or a new one if none is positive.
4. It stays revisable for ``revise_window`` seconds: a later tracklet that fits a track
   clearly better than its last tracklet takes that place (the track is split there),
   and the displaced tracklet is decided again (it may join another track or stand alone).

Operator corrections (``merge``, ``split``) are kept as must-link groups and
cannot-link pairs: automatic decisions never take a tracklet out of an operator-merged
track and never join tracklets an operator split apart.

Face embeddings are not an input: faces never link tracks.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from civicsight.events import JOINED_TRACK_PREFIX, tracklet_id
from civicsight.streams.association.appearance import AppearanceModel, Evidence, Vector
from civicsight.streams.association.plates import PlateVotes, plate_llr
from civicsight.streams.association.transit import CameraGraph, TransitModel, speed_group

RELINK_GAP = 4.0
"""A tracklet starting at most this long after another on the same camera ended may be
the same object after an occlusion."""
RELINK_LLR = 2.0
OVERLAP = 0.3
"""Two tracklets of one track may overlap in time by this much (clock jitter)."""
CLASS_MISMATCH_LLR = -4.0
"""Different vehicle classes (a bus read as a truck happens); person vs vehicle never links."""
STEAL_MARGIN = 2.0


@dataclass
class Settings:
    """The association's knobs (defaults suit a city of a few dozen cameras)."""

    link_prior: float = 5.0
    """Log-odds a link must beat: the evidence must be this much likelier under 'same'."""
    settle: float = 4.0
    """Seconds every source clock must be past a tracklet's end before it is decided."""
    max_wait: float = math.inf
    """Decide a tracklet at the latest when the newest clock is this far past its end, even
    if a camera lags. Off by default: clocks of different partitions can lag each other by
    many minutes when a worker catches up with a backlog, and a camera whose partition's
    worker is gone waits only until the group gives the partition to another worker."""
    revise_window: float = 120.0
    """Seconds (event time) after its decision during which a tracklet may be displaced."""
    dim: int = 128


@dataclass
class Tracklet:
    key: str
    camera: str
    track_id: int
    evidence: Evidence
    plates: PlateVotes = field(default_factory=PlateVotes)
    cls: str | None = None
    first_seen: float = math.inf
    last_seen: float = -math.inf
    detections: int = 0
    closed: bool = False
    decided_at: float | None = None
    track: int | None = None
    link_score: float = 0.0
    """Score with which it joined its track automatically (0: founded it or an operator did)."""
    seen: set[tuple[str, float]] = field(default_factory=set)
    """(kind, time) of evidence already added: redelivered inputs count once."""


@dataclass
class Track:
    number: int
    members: list[str]
    pinned: bool = False
    """An operator merged it: automatic decisions never remove its tracklets."""
    # aggregates of the members, rebuilt on every change (see Associator._rebuild)
    tail: str = ""
    cls: str = "car"
    plates: PlateVotes = field(default_factory=PlateVotes)
    sums: dict[str, tuple[Vector, float]] = field(default_factory=dict)
    """camera -> (sum of q * e of its members there, sum of q)"""
    q1: float = 0.0
    q2: float = 0.0


@dataclass(frozen=True, slots=True)
class Member:
    camera_id: str
    track_id: int
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class TrackChange:
    """One new version of a global track (or its retirement, ``merged_into`` set)."""

    track_id: str
    version: int
    cls: str
    members: tuple[Member, ...]
    first_seen: float
    last_seen: float
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class OperatorDecision:
    action: str
    user: str
    reason: str
    tracks: tuple[str, ...]
    tracklets: tuple[str, ...]


def external_id(founding_key: str) -> str:
    return JOINED_TRACK_PREFIX + hashlib.sha1(founding_key.encode()).hexdigest()[:16]


class Associator:
    """The association state and its rules (see the module docstring)."""

    def __init__(self, graph: CameraGraph, settings: Settings | None = None) -> None:
        self.graph = graph
        self.settings = settings or Settings()
        self.appearance = AppearanceModel(self.settings.dim)
        self.transit = TransitModel()
        self.tracklets: dict[str, Tracklet] = {}
        self.tracks: dict[int, Track] = {}
        self.tails: dict[str, set[int]] = {}
        """camera -> tracks whose last tracklet is on it"""
        self.clocks: dict[str, float] = {}
        self.pending: list[tuple[float, str]] = []
        self.versions: dict[str, int] = {}
        self.ext_of: dict[int, str] = {}
        self.cannot: set[frozenset[str]] = set()
        self.operator_log: list[OperatorDecision] = []
        self._next_track = 1
        self._samples: list[tuple[float, str, int, str, Vector, float]] = []
        self._seq = 0
        self._sources = 1
        self.late_evidence = 0
        """Appearances that came after their tracklet was decided (they count from then on)."""
        self.decisions: dict[str, int] = {}
        """How tracklets were placed, by kind: ``new_track``, ``linked`` (appended to a
        track), ``displaced`` (took the place of a track's last tracklet, which is then
        decided again); and the operators' ``merge`` and ``split``."""
        self._dirty: set[int] = set()
        self._retired: dict[str, str] = {}

    # -- inputs --------------------------------------------------------------------------

    def _tracklet(self, camera: str, track_id: int) -> Tracklet:
        key = tracklet_id(camera, track_id)
        t = self.tracklets.get(key)
        if t is None:
            t = Tracklet(key, camera, track_id, Evidence(self.settings.dim))
            self.tracklets[key] = t
        return t

    def add_appearance(
        self,
        camera: str,
        track_id: int,
        at: float,
        cls: str,
        quality: float,
        embedding: Sequence[float],
    ) -> None:
        t = self._tracklet(camera, track_id)
        if ("a", at) in t.seen:
            return
        if t.decided_at is not None:
            self.late_evidence += 1
        t.seen.add(("a", at))
        e = np.asarray(embedding, dtype=np.float64)
        norm = float(np.linalg.norm(e))
        if len(e) != self.settings.dim or norm == 0:
            raise ValueError(f"embedding of {t.key}: need {self.settings.dim} non-zero values")
        e = e / norm
        t.evidence.add(e, quality)
        # the camera means take samples in capture order, as the clocks pass them, so a
        # decision sees the same means however the inputs interleaved on the way
        self._seq += 1
        heapq.heappush(self._samples, (at, t.key, self._seq, camera, e, quality))
        if t.cls is None:
            t.cls = cls
        self._widen(t, at)

    def add_plate(self, camera: str, track_id: int, at: float, text: str, conf: float) -> None:
        t = self._tracklet(camera, track_id)
        if ("p", at) in t.seen:
            return
        t.seen.add(("p", at))
        t.plates = t.plates.add(text, conf)
        self._widen(t, at)

    @staticmethod
    def _widen(t: Tracklet, at: float) -> None:
        if t.detections == 0:  # detection times win once the tracklet has closed
            t.first_seen = min(t.first_seen, at)
            t.last_seen = max(t.last_seen, at)

    def close(
        self,
        camera: str,
        track_id: int,
        first_seen: float,
        last_seen: float,
        cls: str,
        detections: int,
    ) -> list[TrackChange]:
        """A tracklet ended (its camera saw it no more). Idempotent; a tracklet that came
        back after closing widens its times."""
        t = self._tracklet(camera, track_id)
        if t.closed:
            if first_seen >= t.first_seen and last_seen <= t.last_seen:
                return []
            t.first_seen = min(t.first_seen, first_seen)
            t.last_seen = max(t.last_seen, last_seen)
            t.detections += detections
            if t.track is not None:
                self._retail(t.track, self.tracklets[self.tracks[t.track].tail].camera)
                self._dirty.add(t.track)
            return self._changes()
        t.closed = True
        t.first_seen, t.last_seen = first_seen, last_seen
        t.cls, t.detections = cls, detections
        heapq.heappush(self.pending, (last_seen, t.key))
        return self._release()

    def advance(self, source: str, clock: float, sources: int = 1) -> list[TrackChange]:
        """Frames up to ``clock`` (capture time) of ``source`` (one of ``sources``: the
        stream app's partitions, or cameras) are processed and their tracklets closed.
        Nothing is decided before every source has reported."""
        self._sources = max(self._sources, sources)
        if clock > self.clocks.get(source, -math.inf):
            self.clocks[source] = clock
        return self._release()

    def _release(self) -> list[TrackChange]:
        """Decide the waiting tracklets the clocks allow (see the module docstring)."""
        if not self.clocks:
            return []
        s = self.settings
        newest = max(self.clocks.values())
        watermark = min(self.clocks.values())
        if len(self.clocks) < self._sources:
            watermark = -math.inf  # a source has not reported yet: wait for it
        while self.pending:
            end, key = self.pending[0]
            if watermark < end + s.settle and newest < end + s.max_wait:
                break
            heapq.heappop(self.pending)
            # event time of the decision: its own release time, not the clock that
            # happened to pass it (that depends on how the inputs were batched)
            self._decide_released(self.tracklets[key], end + s.settle)
        return self._changes()

    def _decide_released(self, t: Tracklet, now: float) -> None:
        horizon = t.last_seen + self.settings.settle
        while self._samples and self._samples[0][0] <= horizon:
            _, _, _, camera, e, quality = heapq.heappop(self._samples)
            self.appearance.observe(camera, e, quality)
        self.appearance.learn_reliability(t.evidence, t.camera)
        self._decide(t, now)

    def flush(self) -> list[TrackChange]:
        """Decide every waiting tracklet (the end of a replay)."""
        while self.pending:
            end, key = heapq.heappop(self.pending)
            self._decide_released(self.tracklets[key], end + self.settings.settle)
        return self._changes()

    # -- the decision --------------------------------------------------------------------

    def _tail(self, track: Track) -> Tracklet:
        return self.tracklets[track.tail]

    def _track_cls(self, members: Iterable[Tracklet]) -> str:
        votes: dict[str, int] = {}
        for t in members:
            if t.cls:
                votes[t.cls] = votes.get(t.cls, 0) + max(1, t.detections)
        return max(sorted(votes), key=lambda c: votes[c]) if votes else "car"

    def _time_llr(self, tail: Tracklet, t: Tracklet, cls: str) -> float | None:
        gap = t.first_seen - tail.last_seen
        if gap < -OVERLAP:
            return None
        if tail.camera == t.camera:
            if gap <= RELINK_GAP:
                return RELINK_LLR
            loop = 2 * self.graph.nearest(t.camera)
            if not math.isfinite(loop):
                return None
            return self.transit.llr(t.camera, t.camera, cls, loop, gap)
        d = self.graph.distance(tail.camera, t.camera)
        if d is None:
            return None
        return self.transit.llr(tail.camera, t.camera, cls, d, max(gap, 1e-3))

    def _rebuild(self, track: Track) -> None:
        members = [self.tracklets[k] for k in track.members]
        if not members:
            return
        track.tail = max(members, key=lambda m: (m.last_seen, m.key)).key
        track.cls = self._track_cls(members)
        plates = PlateVotes()
        sums: dict[str, tuple[Vector, float]] = {}
        q1 = q2 = 0.0
        for m in members:
            plates = plates.merge(m.plates)
            if m.evidence.n:
                s, w = sums.get(m.camera, (np.zeros(self.settings.dim), 0.0))
                sums[m.camera] = (s + m.evidence.s, w + m.evidence.q1)
                q1 += m.evidence.q1
                q2 += m.evidence.q2
        track.plates, track.sums, track.q1, track.q2 = plates, sums, q1, q2

    def _centred(self, track: Track, centres: dict[str, Vector]) -> Vector:
        total = np.zeros(self.settings.dim)
        for cam, (s, w) in track.sums.items():
            total += s - w * centres[cam]
        return total

    def _gate(self, track: Track, t: Tracklet) -> float | None:
        """Everything but appearance: time, class, plates, operator splits (None: no)."""
        cls = track.cls
        mine = t.cls or cls
        if (cls == "person") != (mine == "person"):
            return None
        if self.cannot and any(frozenset((k, t.key)) in self.cannot for k in track.members):
            return None
        time_llr = self._time_llr(self.tracklets[track.tail], t, mine)
        if time_llr is None:
            return None
        score = time_llr - self.settings.link_prior
        if cls != mine:
            score += CLASS_MISMATCH_LLR
        if track.plates.votes and t.plates.votes:
            score += plate_llr(track.plates, t.plates)
        return score

    def _scores(self, tracks: list[Track], t: Tracklet, base: list[float]) -> list[float]:
        """Add the appearance evidence to the ``base`` scores of appending ``t``."""
        if not t.evidence.n or not tracks:
            return base
        cams = {c for tr in tracks for c in tr.sums} | {t.camera}
        centres = {c: self.appearance.centre(c) for c in cams}
        mine = t.evidence.s - t.evidence.q1 * centres[t.camera]
        mine = mine / (float(np.linalg.norm(mine)) or 1.0)
        idx = [i for i, tr in enumerate(tracks) if tr.q1 > 0]
        if not idx:
            return base
        mat = np.stack([self._centred(tracks[i], centres) for i in idx])
        norms = np.linalg.norm(mat, axis=1)
        norms[norms == 0] = 1.0
        cos = (mat @ mine) / norms
        r_b = self.appearance.reliability(t.evidence.q1, t.evidence.q2)
        r_a = np.array([self.appearance.reliability(tracks[i].q1, tracks[i].q2) for i in idx])
        llr = self.appearance.llr(cos, r_b, r_a)
        out = list(base)
        for j, i in enumerate(idx):
            out[i] += float(llr[j])
        return out

    def _score(self, members: list[Tracklet], t: Tracklet) -> float | None:
        """Score of appending ``t`` to a track of ``members`` (None: not possible)."""
        track = Track(-1, [m.key for m in members])
        self._rebuild(track)
        base = self._gate(track, t)
        if base is None:
            return None
        return self._scores([track], t, [base])[0]

    def _candidates(self, t: Tracklet) -> tuple[list[int], list[int]]:
        """Tracks whose last tracklet is on this camera or a neighbour, of the same kind
        (people with people, vehicles with vehicles): those it ended before this one
        began, and those whose last tracklet overlaps this one (it may take its place)."""
        group = speed_group(t.cls or "car") == "person"
        after: list[int] = []
        overlapping: list[int] = []
        for cam in (t.camera, *self.graph.edges.get(t.camera, {})):
            for number in self.tails.get(cam, ()):
                track = self.tracks[number]
                if (track.cls == "person") != group:
                    continue
                if self.tracklets[track.tail].last_seen <= t.first_seen + OVERLAP:
                    after.append(number)
                else:
                    overlapping.append(number)
        return sorted(after), sorted(overlapping)

    def _decide(self, t: Tracklet, now: float, exclude: int | None = None) -> None:
        if t.track is not None:
            return
        t.decided_at = now
        tracks: list[Track] = []
        base: list[float] = []
        steals: list[Track] = []
        after, overlapping = self._candidates(t)
        for number in after:
            if number == exclude:
                continue
            track = self.tracks[number]
            score = self._gate(track, t)
            if score is not None:
                tracks.append(track)
                base.append(score)
        for number in overlapping:
            track = self.tracks[number]
            tail = self.tracklets[track.tail]
            if (
                number != exclude
                and not track.pinned
                and len(track.members) > 1
                and tail.decided_at is not None
                and now - tail.decided_at <= self.settings.revise_window
                and tail.link_score > 0
            ):
                steals.append(track)
        scores = self._scores(tracks, t, base)
        self._learn_impostors(t, tracks)
        best: tuple[float, int, str | None] = (0.0, -1, None)
        for track, score in zip(tracks, scores, strict=True):
            if score > best[0]:
                best = (score, track.number, None)
        for track in steals:
            tail = self.tracklets[track.tail]
            rest = [self.tracklets[k] for k in track.members if k != tail.key]
            stolen = self._score(rest, t)
            if stolen is not None and stolen - tail.link_score > STEAL_MARGIN:
                gain = stolen - tail.link_score
                if gain > best[0]:
                    best = (gain, track.number, tail.key)
        score, number, displaced = best
        if number < 0:
            self._decided("new_track")
            self._new_track(t)
            return
        self._decided("linked" if displaced is None else "displaced")
        if displaced is not None:
            score = score + self.tracklets[displaced].link_score
            self._remove(self.tracklets[displaced])
        self._append(number, t, score)
        if displaced is not None:
            self._decide(self.tracklets[displaced], now, exclude=number)

    def _decided(self, kind: str) -> None:
        self.decisions[kind] = self.decisions.get(kind, 0) + 1

    def _learn_impostors(self, t: Tracklet, tracks: list[Track]) -> None:
        """Cosines to the tails of gated candidates: nearly all are other objects."""
        if not t.evidence.n:
            return
        tails = [self.tracklets[tr.tail] for tr in tracks[:200]]
        tails = [m for m in tails if m.evidence.n and m.key != t.key]
        if not tails:
            return
        mine = self.appearance.centred_sum(t.evidence, t.camera)
        mine = mine / (float(np.linalg.norm(mine)) or 1.0)
        mat = np.stack([self.appearance.centred_sum(m.evidence, m.camera) for m in tails])
        norms = np.linalg.norm(mat, axis=1)
        norms[norms == 0] = 1.0
        self.appearance.learn_impostor((mat @ mine) / norms)

    # -- changing tracks -----------------------------------------------------------------

    def _new_track(self, t: Tracklet) -> int:
        number = self._next_track
        self._next_track += 1
        self.tracks[number] = Track(number, [t.key])
        t.track, t.link_score = number, 0.0
        self._rebuild(self.tracks[number])
        self.tails.setdefault(t.camera, set()).add(number)
        self._dirty.add(number)
        return number

    def _retail(self, number: int, old_tail_camera: str | None) -> None:
        track = self.tracks.get(number)
        if track is not None:
            self._rebuild(track)
        if old_tail_camera is not None:
            self.tails.get(old_tail_camera, set()).discard(number)
        if track is not None and track.members:
            self.tails.setdefault(self._tail(track).camera, set()).add(number)

    def _sort(self, track: Track) -> None:
        track.members.sort(key=lambda k: (self.tracklets[k].first_seen, k))

    def _append(self, number: int, t: Tracklet, score: float) -> None:
        track = self.tracks[number]
        old_tail = self._tail(track)
        if plate_llr(track.plates, t.plates) > 0 and old_tail.camera != t.camera:
            d = self.graph.distance(old_tail.camera, t.camera)
            if d is not None:
                cls = t.cls or track.cls
                self.transit.learn(
                    old_tail.camera, t.camera, cls, d, t.first_seen - old_tail.last_seen
                )
        track.members.append(t.key)
        self._sort(track)
        t.track, t.link_score = number, score
        self._retail(number, old_tail.camera)
        self._dirty.add(number)

    def _remove(self, t: Tracklet) -> None:
        if t.track is None:
            return
        number = t.track
        track = self.tracks[number]
        old_tail = self._tail(track)
        track.members.remove(t.key)
        t.track, t.link_score = None, 0.0
        self._dirty.add(number)
        if not track.members:
            self.tails.get(old_tail.camera, set()).discard(number)
            return
        self._retail(number, old_tail.camera)

    # -- operator corrections ----------------------------------------------------------

    def _number(self, ext: str) -> int:
        for number, e in self.ext_of.items():
            if e == ext and self.tracks.get(number) and self.tracks[number].members:
                return number
        raise KeyError(f"no live track {ext!r}")

    def merge(self, track_a: str, track_b: str, user: str, reason: str) -> list[TrackChange]:
        """An operator says two tracks are one object. Automatic decisions never split it."""
        _require(user, reason)
        a, b = self._number(track_a), self._number(track_b)
        if a == b:
            return []
        moved = list(self.tracks[b].members)
        for key in moved:
            for other in self.tracks[a].members:
                if frozenset((key, other)) in self.cannot:
                    raise ValueError(f"{key} and {other} were split apart by an operator")
        for key in moved:
            self._remove(self.tracklets[key])
        track = self.tracks[a]
        old_tail = self._tail(track)
        for key in moved:
            track.members.append(key)
            self.tracklets[key].track = a
            self.tracklets[key].link_score = 0.0
        self._sort(track)
        track.pinned = True
        self._retail(a, old_tail.camera)
        self._dirty.add(a)
        self.operator_log.append(
            OperatorDecision("merge", user, reason, (track_a, track_b), tuple(moved))
        )
        self._decided("merge")
        return self._changes()

    def split(
        self, track: str, tracklets: Iterable[str], user: str, reason: str
    ) -> list[TrackChange]:
        """An operator says ``tracklets`` (keys ``camera/id``) are another object than the
        rest of ``track``. They are never joined again automatically."""
        _require(user, reason)
        number = self._number(track)
        keys = sorted(set(tracklets))
        rest = [k for k in self.tracks[number].members if k not in keys]
        if not keys or not rest or len(rest) + len(keys) != len(self.tracks[number].members):
            raise ValueError("split needs some, not all, of the track's own tracklets")
        for k in keys:
            for r in rest:
                self.cannot.add(frozenset((k, r)))
        for k in keys:
            self._remove(self.tracklets[k])
        first = self.tracklets[keys[0]]
        new = self._new_track(first)
        for k in keys[1:]:
            self.tracks[new].members.append(k)
            self.tracklets[k].track = new
        self._sort(self.tracks[new])
        self.tracks[new].pinned = self.tracks[number].pinned = True
        self._retail(new, first.camera)
        self.operator_log.append(OperatorDecision("split", user, reason, (track,), tuple(keys)))
        self._decided("split")
        return self._changes()

    # -- outputs -------------------------------------------------------------------------

    def _changes(self) -> list[TrackChange]:
        out: list[TrackChange] = []
        for number in sorted(self._dirty):
            track = self.tracks[number]
            old = self.ext_of.get(number)
            if not track.members:
                del self.tracks[number]
                if old is not None:
                    self._retired[old] = ""
                    del self.ext_of[number]
                continue
            members = [self.tracklets[k] for k in track.members]
            ext = external_id(members[0].key)
            if old is not None and old != ext:
                self._retired[old] = ext
            self.ext_of[number] = ext
            self._retired.pop(ext, None)
            version = self.versions.get(ext, 0) + 1
            self.versions[ext] = version
            out.append(
                TrackChange(
                    track_id=ext,
                    version=version,
                    cls=self._track_cls(members),
                    members=tuple(
                        Member(m.camera, m.track_id, m.first_seen, m.last_seen) for m in members
                    ),
                    first_seen=min(m.first_seen for m in members),
                    last_seen=max(m.last_seen for m in members),
                )
            )
        for old, _ in sorted(self._retired.items()):
            holder = self._holder_of_founder(old)
            if holder is None:
                continue
            version = self.versions.get(old, 0) + 1
            self.versions[old] = version
            out.append(
                TrackChange(
                    track_id=old,
                    version=version,
                    cls=holder.cls,
                    members=holder.members,
                    first_seen=holder.first_seen,
                    last_seen=holder.last_seen,
                    merged_into=holder.track_id,
                )
            )
        self._dirty.clear()
        self._retired.clear()
        return out

    def _holder_of_founder(self, old_ext: str) -> TrackChange | None:
        for number, ext in self.ext_of.items():
            track = self.tracks[number]
            if any(external_id(k) == old_ext for k in track.members):
                members = [self.tracklets[k] for k in track.members]
                return TrackChange(
                    track_id=ext,
                    version=self.versions.get(ext, 0),
                    cls=self._track_cls(members),
                    members=tuple(
                        Member(m.camera, m.track_id, m.first_seen, m.last_seen) for m in members
                    ),
                    first_seen=min(m.first_seen for m in members),
                    last_seen=max(m.last_seen for m in members),
                )
        return None

    def assignment(self) -> dict[str, str]:
        """tracklet key -> global track id, for every tracklet decided so far."""
        out: dict[str, str] = {}
        for number, track in self.tracks.items():
            ext = self.ext_of.get(number) or external_id(track.members[0])
            for k in track.members:
                out[k] = ext
        return out


def _require(user: str, reason: str) -> None:
    if not user.strip() or not reason.strip():
        raise ValueError("an operator decision needs a user and a reason")
