"""Single-camera tracklets: per-frame detections in, versioned ``TrackUpdate`` events out.

Pure logic: no Kafka, no clock, no Faust. Time is passed in (``now`` is wall time, used
as ``emitted_at`` and to run the camera's clock between frames), so every rule here can
be tested by calling functions with numbers.

One ``CameraState`` per camera holds its open tracklets. The policy:

* a tracklet is *confirmed* once it has ``min_detections`` detections (one-frame flicker
  never becomes a track); confirmation emits version 1;
* while it keeps changing it is re-emitted (version + 1) at most every
  ``update_interval`` seconds of frame capture time;
* after ``timeout`` seconds without a detection it is closed: a final version with
  ``closed=True``. Unconfirmed tracklets that time out vanish without a word;
* a closed tracklet's id and last version are remembered for ``keep_closed`` seconds,
  so a tracker id that reappears continues the same track with higher versions
  (versions of one track id only ever increase);
* the best crop (highest quality) is carried in an update only when it changed since
  the last emitted version, to keep messages small;
* a frame whose capture time is not after the last processed frame of its camera is a
  redelivery and is ignored (at-least-once input, exactly-once effect), unless the camera
  clock went back by more than ``REPLAY_WINDOW`` seconds (then it is a clock reset).

Expiry uses the *camera's* clock, estimated as the last frame's capture time plus the
wall time elapsed since that frame was processed. Camera clock skew and processing lag
therefore never close a track early, and a camera that goes silent still closes its
tracks ``timeout`` seconds after its last frame.

Counting lines and zones (``streams.rules``) are evaluated here too, on the bottom-centre
of each tracklet's box (``observe_rules`` after ``observe``, ``close_rules`` after
``expire``). Each tracklet keeps its rule memory in its state. Hits of a tracklet not yet
confirmed are held and sent when it is confirmed, or dropped with it, so flicker never
counts.

On a camera with a ground-plane calibration and counting lines, each tracklet also keeps
a short trail of its bottom-centre, and every line it crosses gets a speed fitted on the
path around the crossing (``streams.speed``: ``observe_speeds`` after ``observe_rules``,
``close_speeds`` after ``close_rules``). The speeds only feed the stream app's
distributions per line, class and bin; none is sent on.

Cross-camera linking is not done here: one tracklet is one track.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from civicsight.cameras import Rules
from civicsight.events import (
    Box,
    Crop,
    FrameDetections,
    ObjectClass,
    RuleHit,
    TrackletRef,
    TrackUpdate,
    global_track_id,
    tracklet_id,
)
from civicsight.geometry import Homography
from civicsight.streams import rules as rl
from civicsight.streams import speed as sp

MAX_PATH = 64
"""Most points in an emitted path (the ``TrackUpdate.path`` limit)."""
PATH_DECIMALS = 4
REPLAY_WINDOW = 60.0
"""A frame at most this many seconds older than the newest seen is a duplicate."""
DEFAULT_MIN_DETECTIONS = 3
DEFAULT_UPDATE_INTERVAL = 2.0
DEFAULT_TIMEOUT = 3.0
DEFAULT_KEEP_CLOSED = 60.0
STATE_FORMAT = 1

Point = tuple[float, float]


class StateDecodeError(ValueError):
    """Bytes that are not a serialised ``CameraState`` or ``BestCrop``."""


@dataclass(frozen=True, slots=True)
class BestCrop:
    """The highest-quality crop seen of one tracklet."""

    jpeg: bytes = field(repr=False)
    quality: float
    captured_at: float

    _HEADER = struct.Struct("!Bdd")

    def to_bytes(self) -> bytes:
        """Compact binary form: version byte, quality, capture time, then the JPEG."""
        return self._HEADER.pack(STATE_FORMAT, self.quality, self.captured_at) + self.jpeg

    @classmethod
    def from_bytes(cls, data: bytes) -> BestCrop:
        size = cls._HEADER.size
        if len(data) < size:
            raise StateDecodeError("best crop: too short")
        fmt, quality, captured_at = cls._HEADER.unpack_from(data)
        if fmt != STATE_FORMAT:
            raise StateDecodeError(f"best crop: unknown format {fmt}")
        return cls(jpeg=bytes(data[size:]), quality=quality, captured_at=captured_at)


@dataclass(frozen=True, slots=True)
class Tracklet:
    """One open single-camera tracklet. Times are frame capture times."""

    track_id: int
    first_seen: float
    last_seen: float
    detections: int = 0
    votes: tuple[tuple[str, int], ...] = ()
    """(class, detections) in order of first appearance: the majority vote."""
    path: tuple[Point, ...] = ()
    """Sampled normalised box centres: one every ``path_stride`` detections."""
    path_stride: int = 1
    last_center: Point | None = None
    crop: BestCrop | None = None
    crop_sent: bool = False
    """Whether ``crop`` went out in an emitted version already."""
    confirmed: bool = False
    dirty: bool = False
    """Changed since the last emitted version."""
    version: int = 0
    """Last emitted version (0: none yet)."""
    emitted_seen: float | None = None
    """Capture time of the newest detection in the last emitted version."""
    emitted_at: float | None = None
    """Wall time of the last emission."""
    rules: rl.Memory = rl.FRESH
    """Where the counting lines and zones last saw it (``streams.rules``)."""
    held: tuple[rl.Hit, ...] = ()
    """Rule hits waiting for the tracklet to be confirmed."""
    speed: sp.Trail = sp.NO_TRAIL
    """Its recent bottom-centres and the crossings waiting for their speed (calibrated
    cameras with lines only, ``streams.speed``)."""

    @property
    def cls(self) -> str:
        """The majority class; a tie goes to the class seen first."""
        best, best_n = "", -1
        for name, n in self.votes:
            if n > best_n:
                best, best_n = name, n
        return best

    @property
    def emitted_path(self) -> tuple[Point, ...]:
        """The sampled path plus the latest centre, at most ``MAX_PATH`` points."""
        last = self.last_center
        if last is None or (self.path and self.path[-1] == last):
            return self.path
        return (*self.path, last)


@dataclass(frozen=True, slots=True)
class Closed:
    """A closed tracklet's id, remembered so that a reappearance keeps increasing versions."""

    version: int
    first_seen: float
    last_seen: float
    hits: int = 0
    """The last rule hit number used, so a reappearance goes on numbering."""


@dataclass(frozen=True, slots=True)
class CameraState:
    """Everything the stream app keeps for one camera. Treat as immutable: every function
    returns a new state (or the very same object when nothing changed)."""

    camera_id: str
    tracklets: Mapping[int, Tracklet] = field(default_factory=dict)
    closed: Mapping[int, Closed] = field(default_factory=dict)
    clock_capture: float | None = None
    """Capture time of the newest frame processed."""
    clock_wall: float | None = None
    """Wall time at which that frame was processed."""

    @property
    def is_idle(self) -> bool:
        """Nothing open and nothing remembered: the state can be dropped."""
        return not self.tracklets and not self.closed

    def camera_time(self, now: float) -> float:
        """The camera's clock at wall time ``now`` (wall time if no frame seen yet)."""
        if self.clock_capture is None or self.clock_wall is None:
            return now
        return self.clock_capture + max(0.0, now - self.clock_wall)

    def crops(self) -> dict[int, BestCrop]:
        """The best crop of every open tracklet that has one."""
        return {tid: t.crop for tid, t in self.tracklets.items() if t.crop is not None}

    def with_crops(self, crops: Mapping[int, BestCrop]) -> CameraState:
        """Put back crops stored apart (see ``to_bytes(include_crops=False)``)."""
        changed = {
            tid: replace(t, crop=crops[tid])
            for tid, t in self.tracklets.items()
            if t.crop is None and tid in crops
        }
        if not changed:
            return self
        return replace(self, tracklets={**self.tracklets, **changed})

    # -- serialisation ---------------------------------------------------------------

    def to_json(self, include_crops: bool = True) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "camera_id": self.camera_id,
            "clock": [self.clock_capture, self.clock_wall],
            "tracklets": [
                _tracklet_to_json(t, include_crops) for _, t in sorted(self.tracklets.items())
            ],
            "closed": [
                [tid, c.version, c.first_seen, c.last_seen, *([c.hits] if c.hits else [])]
                for tid, c in sorted(self.closed.items())
            ],
        }

    def to_bytes(self, include_crops: bool = True) -> bytes:
        """JSON bytes. Without crops the state stays small enough to write on every frame;
        the crops then travel apart (``BestCrop.to_bytes``) and come back via ``with_crops``.
        """
        return json.dumps(self.to_json(include_crops), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CameraState:
        try:
            if doc["format"] != STATE_FORMAT:
                raise StateDecodeError(f"camera state: unknown format {doc['format']!r}")
            clock_capture, clock_wall = doc["clock"]
            tracklets = [_tracklet_from_json(t) for t in doc["tracklets"]]
            closed = {
                int(tid): Closed(int(version), float(first), float(last), int(hits))
                for tid, version, first, last, hits in (
                    (*c, 0) if len(c) == 4 else c for c in doc["closed"]
                )
            }
            return cls(
                camera_id=str(doc["camera_id"]),
                tracklets={t.track_id: t for t in tracklets},
                closed=closed,
                clock_capture=None if clock_capture is None else float(clock_capture),
                clock_wall=None if clock_wall is None else float(clock_wall),
            )
        except StateDecodeError:
            raise
        except (KeyError, TypeError, ValueError, binascii.Error) as err:
            raise StateDecodeError(f"camera state: {err!r}") from err

    @classmethod
    def from_bytes(cls, data: bytes) -> CameraState:
        try:
            doc = json.loads(data)
        except ValueError as err:
            raise StateDecodeError(f"camera state: {err}") from err
        if not isinstance(doc, dict):
            raise StateDecodeError("camera state: not an object")
        return cls.from_json(doc)


def _tracklet_to_json(t: Tracklet, include_crop: bool) -> dict[str, Any]:
    crop = None
    if include_crop and t.crop is not None:
        crop = [base64.b64encode(t.crop.jpeg).decode(), t.crop.quality, t.crop.captured_at]
    return {
        "id": t.track_id,
        "seen": [t.first_seen, t.last_seen],
        "n": t.detections,
        "votes": [list(v) for v in t.votes],
        "path": [list(p) for p in t.path],
        "stride": t.path_stride,
        "last": None if t.last_center is None else list(t.last_center),
        "crop": crop,
        "crop_sent": t.crop_sent,
        "confirmed": t.confirmed,
        "dirty": t.dirty,
        "emitted": [t.version, t.emitted_seen, t.emitted_at],
        **({"rules": t.rules.to_json()} if t.rules != rl.FRESH else {}),
        **({"held": [h.to_json() for h in t.held]} if t.held else {}),
        **({"speed": t.speed.to_json()} if t.speed != sp.NO_TRAIL else {}),
    }


def _point(p: Iterable[Any]) -> Point:
    x, y = p
    return (float(x), float(y))


def _tracklet_from_json(d: Mapping[str, Any]) -> Tracklet:
    first_seen, last_seen = d["seen"]
    version, emitted_seen, emitted_at = d["emitted"]
    crop = None
    if d["crop"] is not None:
        jpeg, quality, captured_at = d["crop"]
        crop = BestCrop(base64.b64decode(jpeg, validate=True), float(quality), float(captured_at))
    return Tracklet(
        track_id=int(d["id"]),
        first_seen=float(first_seen),
        last_seen=float(last_seen),
        detections=int(d["n"]),
        votes=tuple((str(name), int(n)) for name, n in d["votes"]),
        path=tuple(_point(p) for p in d["path"]),
        path_stride=int(d["stride"]),
        last_center=None if d["last"] is None else _point(d["last"]),
        crop=crop,
        crop_sent=bool(d["crop_sent"]),
        confirmed=bool(d["confirmed"]),
        dirty=bool(d["dirty"]),
        version=int(version),
        emitted_seen=None if emitted_seen is None else float(emitted_seen),
        emitted_at=None if emitted_at is None else float(emitted_at),
        rules=rl.Memory.from_json(d["rules"]) if "rules" in d else rl.FRESH,
        held=tuple(rl.Hit.from_json(h) for h in d.get("held", ())),
        speed=sp.Trail.from_json(d["speed"]) if "speed" in d else sp.NO_TRAIL,
    )


# -- the rules ----------------------------------------------------------------------------


def new_state(camera_id: str) -> CameraState:
    return CameraState(camera_id=camera_id)


def _clamp01(v: float) -> float:
    return min(1.0, max(0.0, v))


def _center(box: Box, width: int, height: int) -> Point:
    cx, cy = box.center
    return (round(_clamp01(cx / width), PATH_DECIMALS), round(_clamp01(cy / height), PATH_DECIMALS))


def _vote(votes: tuple[tuple[str, int], ...], cls: str) -> tuple[tuple[str, int], ...]:
    for i, (name, n) in enumerate(votes):
        if name == cls:
            return (*votes[:i], (name, n + 1), *votes[i + 1 :])
    return (*votes, (cls, 1))


def _add_detection(t: Tracklet, box: Box, captured_at: float, width: int, height: int) -> Tracklet:
    center = _center(box, width, height)
    path, stride = t.path, t.path_stride
    if t.detections % stride == 0:
        path = (*path, center)
        if len(path) >= MAX_PATH:  # keep every other sample: twice the stride, half the points
            path, stride = path[::2], stride * 2
    return replace(
        t,
        first_seen=min(t.first_seen, captured_at),
        last_seen=max(t.last_seen, captured_at),
        detections=t.detections + 1,
        votes=_vote(t.votes, box.cls),
        path=path,
        path_stride=stride,
        last_center=center,
        dirty=True,
    )


def _emit(t: Tracklet, camera_id: str, now: float, closed: bool) -> tuple[Tracklet, TrackUpdate]:
    version = t.version + 1
    send_crop = t.crop is not None and not t.crop_sent
    update = TrackUpdate(
        track_id=global_track_id(camera_id, t.track_id),
        version=version,
        cls=cast(ObjectClass, t.cls),
        tracklets=(
            TrackletRef(
                camera_id=camera_id,
                track_id=t.track_id,
                first_seen=t.first_seen,
                last_seen=t.last_seen,
            ),
        ),
        first_seen=t.first_seen,
        last_seen=t.last_seen,
        closed=closed,
        path=t.emitted_path,
        best_crop_jpeg=t.crop.jpeg if send_crop and t.crop is not None else None,
        emitted_at=now,
    )
    return (
        replace(
            t,
            version=version,
            confirmed=True,
            dirty=False,
            crop_sent=t.crop_sent or send_crop,
            emitted_seen=t.last_seen,
            emitted_at=now,
        ),
        update,
    )


def _boxes_by_track(detections: FrameDetections) -> dict[int, Box]:
    """The most confident box of each tracker id (boxes without one are not tracked)."""
    boxes: dict[int, Box] = {}
    for box in detections.boxes:
        if box.track_id is None:
            continue
        seen = boxes.get(box.track_id)
        if seen is None or box.conf > seen.conf:
            boxes[box.track_id] = box
    return boxes


def _is_redelivery(state: CameraState, captured_at: float) -> bool:
    last = state.clock_capture
    return last is not None and captured_at <= last and last - captured_at <= REPLAY_WINDOW


def observe(
    state: CameraState,
    detections: FrameDetections,
    now: float,
    *,
    min_detections: int = DEFAULT_MIN_DETECTIONS,
    update_interval: float = DEFAULT_UPDATE_INTERVAL,
) -> tuple[CameraState, list[TrackUpdate]]:
    """Fold one frame's detections into the camera's state.

    ``now`` is the wall time: the ``emitted_at`` of any update and the anchor of the
    camera clock. Boxes without a tracker id are ignored; two boxes with the same id in
    one frame count once (the most confident). Returns the very same state object when
    the frame changes nothing (so the caller can skip writing it).
    """
    if detections.camera_id != state.camera_id:
        raise ValueError(f"frame of {detections.camera_id} given to {state.camera_id}'s state")
    if min_detections < 1:
        raise ValueError("min_detections must be at least 1")
    t = detections.captured_at
    if _is_redelivery(state, t):
        return state, []
    boxes = _boxes_by_track(detections)
    if not boxes and state.is_idle:
        return state, []

    tracklets = dict(state.tracklets)
    closed = dict(state.closed)
    updates: list[TrackUpdate] = []
    for tid in sorted(boxes):
        tracklet = tracklets.get(tid)
        if tracklet is None:
            gone = closed.pop(tid, None)
            tracklet = Tracklet(
                track_id=tid,
                first_seen=t if gone is None else gone.first_seen,
                last_seen=t,
                version=0 if gone is None else gone.version,
                rules=rl.FRESH if gone is None else rl.Memory(seq=gone.hits),
            )
        tracklet = _add_detection(tracklet, boxes[tid], t, detections.width, detections.height)
        due = False
        if not tracklet.confirmed:
            due = tracklet.detections >= min_detections
        elif tracklet.emitted_seen is not None:
            due = t - tracklet.emitted_seen >= update_interval
        if due:
            tracklet, update = _emit(tracklet, state.camera_id, now, closed=False)
            updates.append(update)
        tracklets[tid] = tracklet
    return (
        replace(state, tracklets=tracklets, closed=closed, clock_capture=t, clock_wall=now),
        updates,
    )


def add_crop(state: CameraState, crop: Crop) -> CameraState:
    """Keep the crop if it beats the tracklet's best (strictly higher quality).

    A crop may arrive before its tracklet's first detection (another topic): it then
    opens a tracklet with no detections, which is dropped silently if none follow. A crop
    of a closed tracklet comes too late and is ignored.
    """
    if crop.camera_id != state.camera_id:
        raise ValueError(f"crop of {crop.camera_id} given to {state.camera_id}'s state")
    best = BestCrop(jpeg=crop.jpeg, quality=crop.quality, captured_at=crop.captured_at)
    t = state.tracklets.get(crop.track_id)
    if t is None:
        if crop.track_id in state.closed:
            return state
        t = Tracklet(
            track_id=crop.track_id,
            first_seen=crop.captured_at,
            last_seen=crop.captured_at,
            crop=best,
        )
    elif t.crop is None or crop.quality > t.crop.quality:
        t = replace(t, crop=best, crop_sent=False, dirty=True)
    else:
        return state
    return replace(state, tracklets={**state.tracklets, crop.track_id: t})


def expire(
    state: CameraState,
    now: float,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    keep_closed: float = DEFAULT_KEEP_CLOSED,
) -> tuple[CameraState, list[TrackUpdate]]:
    """Close tracklets with no detection for ``timeout`` seconds of camera time.

    Confirmed ones emit a final version with ``closed=True``; unconfirmed ones are
    dropped silently. Closed ids older than ``keep_closed`` are forgotten. Returns the
    very same state object when nothing changed.
    """
    camera_now = state.camera_time(now)
    tracklets = dict(state.tracklets)
    closed = dict(state.closed)
    updates: list[TrackUpdate] = []
    changed = False
    for tid in sorted(state.tracklets):
        t = state.tracklets[tid]
        if camera_now - t.last_seen < timeout:
            continue
        del tracklets[tid]
        changed = True
        if t.confirmed:
            t, update = _emit(t, state.camera_id, now, closed=True)
            updates.append(update)
        if t.version > 0:
            closed[tid] = Closed(t.version, t.first_seen, t.last_seen, t.rules.seq)
    for tid, c in state.closed.items():
        if camera_now - c.last_seen >= keep_closed:
            del closed[tid]
            changed = True
    if not changed:
        return state, []
    return replace(state, tracklets=tracklets, closed=closed), updates


def crop_key(camera_id: str, track_id: int) -> str:
    """Where a tracklet's best crop is stored apart from the camera state."""
    return tracklet_id(camera_id, track_id)


# -- counting lines and zones -------------------------------------------------------------


def bottom_centre(box: Box, width: int, height: int) -> Point:
    """Where the object meets the ground, in frame fractions: the middle of the box's
    bottom edge (a box's centre would cross a line on the ground too early or too late,
    by half its height)."""
    return (_clamp01((box.x1 + box.x2) / 2 / width), _clamp01(box.y2 / height))


def _rule_hit(camera_id: str, t: Tracklet, hit: rl.Hit) -> RuleHit:
    return RuleHit(
        camera_id=camera_id,
        track_id=t.track_id,
        captured_at=max(0.0, hit.at),
        rule_id=hit.rule_id,
        rule_kind=hit.rule_kind,
        action=hit.action,
        direction=hit.direction,
        cls=cast(ObjectClass, t.cls),
        seq=hit.seq,
        dwell_s=hit.dwell_s,
        ended=hit.ended,
    )


def observe_rules(
    state: CameraState,
    detections: FrameDetections,
    rules: Rules,
    *,
    margin: float = rl.CLEAR_MARGIN,
) -> tuple[CameraState, list[RuleHit]]:
    """Move the rule memory of every tracklet in this frame to its box's bottom-centre;
    the hits of confirmed tracklets, in order (call it after ``observe`` folded the frame
    in, and only if that changed the state: a redelivered frame must not move anything).

    Without rules (and nothing held) the state is returned as it is: cameras without
    rules keep no rule memory.
    """
    if detections.camera_id != state.camera_id:
        raise ValueError(f"frame of {detections.camera_id} given to {state.camera_id}'s state")
    boxes = _boxes_by_track(detections)
    if rules.empty and not any(
        state.tracklets[tid].held for tid in boxes if tid in state.tracklets
    ):
        return state, []
    tracklets = dict(state.tracklets)
    out: list[RuleHit] = []
    for tid in sorted(boxes):
        t = tracklets.get(tid)
        if t is None:
            continue
        point = bottom_centre(boxes[tid], detections.width, detections.height)
        memory, hits = rl.step(rules, t.rules, point, detections.captured_at, margin)
        held = (*t.held, *hits)
        if t.confirmed:
            out.extend(_rule_hit(state.camera_id, t, h) for h in held)
            held = ()
        tracklets[tid] = replace(t, rules=memory, held=held)
    return replace(state, tracklets=tracklets), out


def close_rules(
    before: CameraState, after: CameraState, rules: Rules
) -> tuple[CameraState, list[RuleHit]]:
    """The zone leaves of the tracklets that ``expire`` closed between ``before`` and
    ``after`` (a confirmed tracklet that ends inside a zone leaves it at its last
    detection); their hit numbers are remembered with their closed ids. Held hits of
    tracklets that were never confirmed are dropped with them."""
    gone = sorted(before.tracklets.keys() - after.tracklets.keys())
    if not gone:
        return after, []
    closed = dict(after.closed)
    out: list[RuleHit] = []
    for tid in gone:
        t = before.tracklets[tid]
        memory = t.rules
        if t.confirmed:
            memory, hits = rl.finish(rules, t.rules)
            out.extend(_rule_hit(before.camera_id, t, h) for h in hits)
        remembered = closed.get(tid)
        if remembered is not None and remembered.hits != memory.seq:
            closed[tid] = replace(remembered, hits=memory.seq)
    if closed == after.closed:
        return after, out
    return replace(after, closed=closed), out


# -- speeds over the lines of a calibrated camera -----------------------------------------


@dataclass(frozen=True, slots=True)
class SpeedSample:
    """One tracklet's speed over one counting line: it stays inside the stream app, where
    it joins the distribution of its line, class and bin (``streams.traffic_bins``).
    ``(camera_id, track_id, seq)`` is the crossing's hit, so a repeat is recognised."""

    camera_id: str
    track_id: int
    rule_id: str
    cls: str
    at: float
    seq: int
    kmh: float


EDGE_PX = 1.0
"""A box this close to the left, right or bottom edge of the frame is cut by it: its
bottom-centre is no speed point (``streams.speed``)."""


def _samples(camera_id: str, track_id: int, found: list[sp.Measured]) -> list[SpeedSample]:
    return [
        SpeedSample(camera_id, track_id, m.rule_id, m.cls, m.at, m.seq, round(m.kmh, 2))
        for m in found
    ]


def observe_speeds(
    state: CameraState,
    detections: FrameDetections,
    hits: Sequence[RuleHit],
    calibration: Homography | None,
    *,
    window: float = sp.DEFAULT_WINDOW_S,
) -> tuple[CameraState, list[SpeedSample]]:
    """Add this frame's bottom-centres to the trails of its tracklets, start a speed for
    each line crossing in ``hits`` (what ``observe_rules`` gave for this frame) and finish
    those whose window is full. Without a calibration nothing is kept (the state is
    returned as it is). Call it only when ``observe`` changed the state."""
    if calibration is None:
        return state, []
    boxes = _boxes_by_track(detections)
    crossed: dict[int, list[sp.Pending]] = {}
    for hit in hits:
        if hit.action == "cross":
            crossed.setdefault(hit.track_id, []).append(
                sp.Pending(hit.rule_id, hit.captured_at, hit.seq, hit.cls)
            )
    tracklets = dict(state.tracklets)
    out: list[SpeedSample] = []
    for tid in sorted(boxes):
        t = tracklets.get(tid)
        if t is None:
            continue
        box = boxes[tid]
        w, h = detections.width, detections.height
        # the top may be cut (a tall vehicle near the camera): the bottom edge still counts
        cut = box.x1 <= EDGE_PX or box.x2 >= w - EDGE_PX or box.y2 >= h - EDGE_PX
        point = None if cut else bottom_centre(box, w, h)
        trail, found = sp.advance(
            t.speed, detections.captured_at, point, crossed.get(tid, ()), calibration, window
        )
        out.extend(_samples(state.camera_id, tid, found))
        tracklets[tid] = replace(t, speed=trail)
    return replace(state, tracklets=tracklets), out


def close_speeds(
    before: CameraState,
    after: CameraState,
    calibration: Homography | None,
    *,
    window: float = sp.DEFAULT_WINDOW_S,
) -> list[SpeedSample]:
    """The speeds of the crossings still waiting on the confirmed tracklets that ``expire``
    closed between ``before`` and ``after``, measured on the path they have."""
    if calibration is None:
        return []
    out: list[SpeedSample] = []
    for tid in sorted(before.tracklets.keys() - after.tracklets.keys()):
        t = before.tracklets[tid]
        if t.confirmed and t.speed.pending:
            out.extend(_samples(before.camera_id, tid, sp.finish(t.speed, calibration, window)))
    return out
