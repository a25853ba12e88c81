"""The tracklet processor: ``streams.tracklets`` applied to hub events against two
key-value tables, one camera's state per key. No Faust here: the stream app passes its
Faust tables, the offline evaluation and tests plain dicts.

``states`` maps camera id to (partition, state without crops); ``crops`` maps
``camera/track`` to a ``BestCrop`` (written only when a better crop arrives, so the
per-frame state write stays small). Each stored state carries the partition it lives in:
a tick for a partition closes the expired tracklets of that partition's cameras.

Batches: inside ``with processor.batch():`` table writes wait, and each changed key is
written once when the block ends (a camera's state is encoded once per batch, not once
per frame). A block that raises writes nothing and drops what it had produced: the
processor goes on from what the tables hold.

What the processor produces waits in it until taken: closed tracklets and partition
clocks for the join (``take``), counting-line and zone hits (``take_hits``), and, for the
traffic bins (``streams.traffic_processor``), every frame seen, every hit and every speed
measured over a line of a calibrated camera, in the order they happened
(``take_traffic``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from civicsight.cameras import NO_RULES, Rules
from civicsight.events import (
    Crop,
    DecodeError,
    Event,
    FrameDetections,
    PartitionClock,
    RuleHit,
    TrackletClosed,
    TrackUpdate,
)
from civicsight.geometry import Homography
from civicsight.streams import speed as sp
from civicsight.streams import tracklets as tl
from civicsight.topics import topic

log = logging.getLogger(__name__)

DETECTIONS = "detections"
CROPS = "crops"

E = TypeVar("E", bound=Event)


@dataclass
class Counters:
    decoded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    updates: int = 0

    def count(self, bucket: dict[str, int], name: str) -> int:
        bucket[name] = bucket.get(name, 0) + 1
        return bucket[name]


@dataclass(frozen=True, slots=True)
class FrameSeen:
    """A frame of a camera was processed (with or without detections): the camera was up."""

    camera_id: str
    captured_at: float
    wall: float
    """wall time it was processed"""


Writer = Callable[[MutableMapping[bytes, bytes], bytes, "bytes | None", int], None]
"""Writes (value) or deletes (None) a table key whose changelog lives in a partition."""


def write_mapping(
    table: MutableMapping[bytes, bytes], key: bytes, value: bytes | None, partition: int
) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


def _encode_stored(partition: int, state: tl.CameraState) -> bytes:
    doc = {"partition": partition, "state": state.to_json(include_crops=False)}
    return json.dumps(doc, separators=(",", ":")).encode()


def _decode_stored(raw: bytes) -> tuple[int, tl.CameraState]:
    try:
        doc = json.loads(raw)
        return int(doc["partition"]), tl.CameraState.from_json(doc["state"])
    except (ValueError, KeyError, TypeError) as err:
        raise tl.StateDecodeError(f"stored camera state: {err!r}") from err


class TrackletProcessor:
    """Applies ``streams.tracklets`` to events against two key-value tables (see the
    module doc). Decoded states are cached by the identity of the stored bytes, so a frame
    costs one JSON encode, not a decode as well. Every method changes the tables
    synchronously (no ``await`` between read and write), so agents running side by side
    cannot lose an update.
    """

    def __init__(
        self,
        states: MutableMapping[bytes, bytes],
        crops: MutableMapping[bytes, bytes],
        *,
        min_detections: int = tl.DEFAULT_MIN_DETECTIONS,
        update_interval: float = tl.DEFAULT_UPDATE_INTERVAL,
        timeout: float = tl.DEFAULT_TIMEOUT,
        keep_closed: float = tl.DEFAULT_KEEP_CLOSED,
        clock_interval: float = 2.0,
        partitions: int | None = None,
        write: Writer = write_mapping,
        rules: Callable[[str], Rules] = lambda _camera_id: NO_RULES,
        calibration: Callable[[str], Homography | None] = lambda _camera_id: None,
        speed_window: float = sp.DEFAULT_WINDOW_S,
        traffic: bool = False,
    ) -> None:
        self._states = states
        self._crops = crops
        self._min_detections = min_detections
        self._update_interval = update_interval
        self._timeout = timeout
        self._keep_closed = keep_closed
        self._cache: dict[bytes, tuple[bytes, int, tl.CameraState]] = {}
        self._clock_interval = clock_interval
        self._write = write
        self._batching = False
        self._work: dict[bytes, tuple[int, tl.CameraState]] = {}
        self._buffer: dict[tuple[int, bytes], tuple[int, bytes | None]] = {}
        self._partitions = partitions or topic(DETECTIONS).partitions
        self._clock_sent: dict[int, float] = {}
        self._partition_clock: dict[int, tuple[float, float]] = {}
        """partition -> (capture time of its newest frame, wall time it came)"""
        self._rules = rules
        self._calibration = calibration
        self._speed_window = speed_window
        self.closed: list[TrackletClosed] = []
        self.clocks: list[PartitionClock] = []
        self.hits: list[tuple[int, RuleHit]] = []
        """(partition, hit) of the counting lines and zones, in order, until taken"""
        self._count_traffic = traffic
        self.traffic: list[tuple[int, FrameSeen | RuleHit | tl.SpeedSample]] = []
        """(partition, what the traffic bins count) in order, until taken (kept only with
        ``traffic``: a caller that counts no traffic never takes it)"""
        self.counters = Counters()

    # batches: writes wait in a buffer while a batch is processed

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold table writes until the block ends, then write each changed key once. A
        block that raises writes nothing: its changes and what it produced for the join
        and the rules are dropped, and the processor reads the tables afresh."""
        if self._batching:
            raise RuntimeError("batches do not nest")
        self._batching = True
        clocks = dict(self._partition_clock), dict(self._clock_sent)
        try:
            yield
        except BaseException:
            self._batching = False
            self._partition_clock, self._clock_sent = clocks
            self._discard()
            raise
        self._batching = False
        self._flush()

    def _discard(self) -> None:
        self._work.clear()
        self._buffer.clear()
        self._cache.clear()
        self.closed.clear()
        self.clocks.clear()
        self.hits.clear()
        self.traffic.clear()

    # state access

    def _get(self, table: MutableMapping[bytes, bytes], key: bytes) -> bytes | None:
        held = self._buffer.get((id(table), key))
        if held is not None:
            return held[1]
        return table.get(key)

    def _put(
        self, table: MutableMapping[bytes, bytes], key: bytes, value: bytes | None, partition: int
    ) -> None:
        if self._batching:
            self._buffer[(id(table), key)] = (partition, value)
        else:
            self._write(table, key, value, partition)

    def _flush(self) -> None:
        """Write what a batch changed: each key once, however often the batch changed it."""
        work, self._work = self._work, {}
        for key, (partition, state) in work.items():
            raw = _encode_stored(partition, state)
            self._put(self._states, key, raw, partition)
            self._cache[key] = (raw, partition, state)
        buffer, self._buffer = self._buffer, {}
        tables = {id(self._states): self._states, id(self._crops): self._crops}
        for (table_id, key), (partition, value) in buffer.items():
            table = tables[table_id]
            if value is None and key not in table:
                continue
            self._write(table, key, value, partition)

    def _load(self, key: bytes) -> tuple[int, tl.CameraState] | None:
        if key in self._work:
            return self._work[key]
        raw = self._get(self._states, key)
        if raw is None:
            self._cache.pop(key, None)
            return None
        cached = self._cache.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1], cached[2]
        try:
            partition, state = _decode_stored(raw)
        except tl.StateDecodeError as err:
            # a bad changelog record must not crash-loop the worker: start that camera afresh
            n = self.counters.count(self.counters.skipped, "state")
            log.error("dropped undecodable state of %r (%d so far): %s", key, n, err)
            self._cache.pop(key, None)
            return None
        crops: dict[int, tl.BestCrop] = {}
        for tid, t in state.tracklets.items():
            stored = None if t.crop is not None else self._get(self._crops, _crop_key(state, tid))
            if stored is None:
                continue
            try:
                crops[tid] = tl.BestCrop.from_bytes(stored)
            except tl.StateDecodeError as err:
                log.error("dropped undecodable crop of %r/%d: %s", key, tid, err)
        state = state.with_crops(crops)
        self._cache[key] = (raw, partition, state)
        return partition, state

    def state(self, camera_id: str) -> tl.CameraState | None:
        loaded = self._load(camera_id.encode())
        return None if loaded is None else loaded[1]

    def _save(self, partition: int, old: tl.CameraState, new: tl.CameraState) -> None:
        if new is old:
            return
        key = new.camera_id.encode()
        old_crops, new_crops = old.crops(), new.crops()
        for tid in old_crops.keys() - new_crops.keys():
            crop_key = _crop_key(old, tid)
            if self._get(self._crops, crop_key) is not None:
                self._put(self._crops, crop_key, None, partition)
        for tid, crop in new_crops.items():
            if old_crops.get(tid) is not crop:
                self._put(self._crops, _crop_key(new, tid), crop.to_bytes(), partition)
        if new.is_idle:
            self._work.pop(key, None)
            if self._get(self._states, key) is not None:
                self._put(self._states, key, None, partition)
            self._cache.pop(key, None)
            return
        if self._batching:  # encoded once, when the batch is flushed
            self._buffer.pop((id(self._states), key), None)
            self._work[key] = (partition, new)
            return
        raw = _encode_stored(partition, new)
        self._put(self._states, key, raw, partition)
        self._cache[key] = (raw, partition, new)

    def decode(self, name: str, cls: type[E], raw: bytes | None, where: str) -> E | None:
        """The event, or None (counted, logged) when the message is not a valid one."""
        return self._decode(name, cls, raw, where)

    def _decode(self, name: str, cls: type[E], raw: bytes | None, where: str) -> E | None:
        try:
            event = cls.from_bytes(raw)
        except DecodeError as err:
            n = self.counters.count(self.counters.skipped, name)
            log.warning(
                "skipped undecodable %s message %s (%d so far): %s", name, where, n, str(err)[:300]
            )
            return None
        self.counters.count(self.counters.decoded, name)
        return event

    # events

    def on_detections(
        self,
        raw: bytes | None,
        partition: int,
        now: float,
        where: str = "",
    ) -> list[TrackUpdate]:
        event = self._decode(DETECTIONS, FrameDetections, raw, where)
        if event is None:
            return []
        return self.on_frame(event, partition, now)

    def on_frame(self, event: FrameDetections, partition: int, now: float) -> list[TrackUpdate]:
        """Fold one frame in, then close the camera's tracklets it shows to have ended
        (by the frame's capture time, so the join sees them in order)."""
        loaded = self._load(event.camera_id.encode())
        old = loaded[1] if loaded else tl.new_state(event.camera_id)
        if self._count_traffic:
            self.traffic.append((partition, FrameSeen(event.camera_id, event.captured_at, now)))
        new, updates = tl.observe(
            old,
            event,
            now,
            min_detections=self._min_detections,
            update_interval=self._update_interval,
        )
        if new is not old:
            rules = self._rules(event.camera_id)
            new, hits = tl.observe_rules(new, event, rules)
            self.hits.extend((partition, hit) for hit in hits)
            self._counted(partition, hits)
            new, speeds = tl.observe_speeds(
                new,
                event,
                hits,
                self._homography(event.camera_id, rules),
                window=self._speed_window,
            )
            self._counted(partition, speeds)
            new, closed = self._expire(new, now, partition)
            updates.extend(closed)
        clock = self._partition_clock.get(partition)
        if clock is None or event.captured_at >= clock[0]:
            self._partition_clock[partition] = (event.captured_at, now)
        self._save(partition, old, new)
        self.counters.updates += len(updates)
        return updates

    def _expire(
        self, state: tl.CameraState, now: float, partition: int
    ) -> tuple[tl.CameraState, list[TrackUpdate]]:
        new, closed = tl.expire(state, now, self._timeout, keep_closed=self._keep_closed)
        if new is not state:
            rules = self._rules(state.camera_id)
            new, hits = tl.close_rules(state, new, rules)
            self.hits.extend((partition, hit) for hit in hits)
            self._counted(partition, hits)
            h = self._homography(state.camera_id, rules)
            self._counted(partition, tl.close_speeds(state, new, h, window=self._speed_window))
        for update in closed:
            t = state.tracklets[update.tracklets[0].track_id]
            self.closed.append(
                TrackletClosed(
                    camera_id=state.camera_id,
                    track_id=t.track_id,
                    captured_at=t.last_seen,
                    first_seen=t.first_seen,
                    cls=update.cls,
                    detections=t.detections,
                )
            )
        return new, closed

    def end_batch(self, partition: int, hold: float = math.inf) -> list[TrackUpdate]:
        """After a batch of ``partition``'s frames: close the tracklets of all its cameras
        that ended by the partition's newest frame, then move its clock for the join.

        ``hold``: appearances or plate reads of this partition newer than this capture
        time are still unread, so the clock told to the join stops there."""
        clock = self._partition_clock.get(partition)
        if clock is None:
            return []
        return self._close_partition(partition, clock[0], clock[1], hold)

    def _close_partition(
        self, partition: int, at: float, now: float, hold: float
    ) -> list[TrackUpdate]:
        updates: list[TrackUpdate] = []
        for camera_id in list(self.cameras_in(partition)):
            loaded = self._load(camera_id.encode())
            if loaded is None:
                continue
            old = loaded[1]
            # the camera's clock at ``at``: the same instant for every camera of the partition
            base = old.clock_wall if old.clock_wall is not None else now
            capture = old.clock_capture if old.clock_capture is not None else at
            new, closed = self._expire(old, base + max(0.0, at - capture), partition)
            self._save(partition, old, new)
            updates.extend(closed)
        self._send_clock(partition, min(hold, at))
        self.counters.updates += len(updates)
        return updates

    def _send_clock(self, partition: int, at: float) -> None:
        if at - self._clock_sent.get(partition, -1e18) >= self._clock_interval:
            self._clock_sent[partition] = at
            self.clocks.append(
                PartitionClock(partition=partition, partitions=self._partitions, captured_at=at)
            )

    def take(self) -> list[TrackletClosed | PartitionClock]:
        """The closed tracklets and partition clocks for the join, in order, since last
        taken."""
        out: list[TrackletClosed | PartitionClock] = [*self.closed, *self.clocks]
        self.closed.clear()
        self.clocks.clear()
        return out

    def _homography(self, camera_id: str, rules: Rules) -> Homography | None:
        """The camera's calibration, when it has lines to measure speeds over and traffic
        is counted."""
        return self._calibration(camera_id) if rules.lines and self._count_traffic else None

    def _counted(self, partition: int, items: Sequence[RuleHit | tl.SpeedSample]) -> None:
        if self._count_traffic:
            self.traffic.extend((partition, item) for item in items)

    def take_traffic(self) -> list[tuple[int, FrameSeen | RuleHit | tl.SpeedSample]]:
        """(partition, frame seen, rule hit or speed) since last taken, in order: what the
        traffic bins count (``streams.traffic_processor``)."""
        out, self.traffic = self.traffic, []
        return out

    def take_hits(self) -> list[tuple[int, RuleHit]]:
        """(partition, hit) of the counting lines and zones since last taken, in order."""
        out, self.hits = self.hits, []
        return out

    def on_crop(self, raw: bytes | None, partition: int, where: str = "") -> None:
        event = self._decode(CROPS, Crop, raw, where)
        if event is None:
            return
        loaded = self._load(event.camera_id.encode())
        old = loaded[1] if loaded else tl.new_state(event.camera_id)
        self._save(partition, old, tl.add_crop(old, event))

    def cameras_in(self, partition: int) -> Iterator[str]:
        keys = set(self._states.keys()) | set(self._work)
        keys.update(k for (t, k) in self._buffer if t == id(self._states))
        for key in sorted(keys):
            loaded = self._load(key)
            if loaded is not None and loaded[0] == partition:
                yield loaded[1].camera_id

    def on_tick(self, partition: int, now: float, hold: float = math.inf) -> list[TrackUpdate]:
        """Close expired tracklets of every camera stored in ``partition``: the partition's
        clock runs on with wall time while no frame comes (call it only when none waits)."""
        clock = self._partition_clock.get(partition)
        if clock is None:
            updates: list[TrackUpdate] = []
            for camera_id in list(self.cameras_in(partition)):
                loaded = self._load(camera_id.encode())
                if loaded is not None:
                    new, closed = self._expire(loaded[1], now, partition)
                    self._save(partition, loaded[1], new)
                    updates.extend(closed)
            self.counters.updates += len(updates)
            # no frame yet: nothing captured here up to now can still come (the caller
            # checked that no frame waits), so the join need not wait for this partition
            self._send_clock(partition, min(hold, now))
            return updates
        capture, wall = clock
        return self._close_partition(partition, capture + max(0.0, now - wall), now, hold)


def _crop_key(state: tl.CameraState, track_id: int) -> bytes:
    return tl.crop_key(state.camera_id, track_id).encode()
