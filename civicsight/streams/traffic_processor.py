"""The traffic processor: ``streams.traffic_bins`` applied to what the tracklet processor
saw, against one key-value table, one camera's bins per key. No Faust here: the stream
app passes its changelog-backed Faust table (so the numbers survive a restart: they are
never recomputed from tracks), tests a plain dict.

``table`` maps camera id to (partition, ``CameraTraffic``) as JSON. Each stored state
carries the partition its camera's detections come from, so a tick of a partition
settles and sends the bins of that partition's cameras, and each write names its
changelog partition (the camera's, like the tracklet states).

Batches: inside ``with processor.batch():`` each changed camera is encoded and written
once when the block ends. A block that raises writes nothing and forgets what it had
decoded: the processor goes on from what the table holds. In the stream app this block
sits inside the tracklet processor's, so the bins of a batch are written before the
tracklet states that produced its hits: a crash between the two makes the hits come again
(and dropped as repeats), never vanish unnoticed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from civicsight.cameras import NO_RULES, Rules
from civicsight.events import RuleHit, TrafficBins
from civicsight.streams import traffic_bins as tb
from civicsight.streams.tracklet_processor import FrameSeen, Writer, write_mapping
from civicsight.streams.tracklets import SpeedSample
from civicsight.traffic import StreamRow

log = logging.getLogger(__name__)

MAX_ROWS_PER_MESSAGE = 2000
"""Rows of one ``TrafficBins`` message (about 400 kB; the topic takes 1 MB)."""

TrafficInput = FrameSeen | RuleHit | SpeedSample


@dataclass
class TrafficCounters:
    hits: int = 0
    repeats: int = 0
    speeds: int = 0
    late: int = 0
    messages: int = 0


def _encode(partition: int, state: tb.CameraTraffic) -> bytes:
    doc = {"partition": partition, "state": state.to_json()}
    return json.dumps(doc, separators=(",", ":")).encode()


def _decode(raw: bytes) -> tuple[int, tb.CameraTraffic]:
    doc = json.loads(raw)
    return int(doc["partition"]), tb.CameraTraffic.from_json(doc["state"])


class TrafficProcessor:
    """Feeds each camera's ``CameraTraffic`` and takes the rows to send (see the module
    doc). Every method changes the table synchronously (no ``await``)."""

    def __init__(
        self,
        table: MutableMapping[bytes, bytes],
        *,
        write: Writer = write_mapping,
        emit_s: float = tb.DEFAULT_EMIT_S,
        settle_s: float = tb.DEFAULT_SETTLE_S,
        max_gap_s: float = tb.DEFAULT_MAX_GAP_S,
        rules: Callable[[str], Rules] = lambda _camera_id: NO_RULES,
    ) -> None:
        self._table = table
        self._write = write
        self.emit_s = emit_s
        self.settle_s = settle_s
        self.max_gap_s = max_gap_s
        self._rules = rules
        self._cache: dict[bytes, tuple[bytes, int, tb.CameraTraffic]] = {}
        """camera key -> (the stored bytes it was decoded from, partition, state)"""
        self._changed: dict[bytes, tuple[int, tb.CameraTraffic]] = {}
        self._batching = False
        self.counters = TrafficCounters()

    # -- batches and state -----------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold writes until the block ends, then write each changed camera once; a block
        that raises writes nothing and forgets what it decoded."""
        if self._batching:
            raise RuntimeError("batches do not nest")
        self._batching = True
        try:
            yield
        except BaseException:
            self._batching = False
            self._changed.clear()
            self._cache.clear()
            raise
        self._batching = False
        self._flush()

    def _flush(self) -> None:
        changed, self._changed = self._changed, {}
        for key, (partition, state) in changed.items():
            raw = _encode(partition, state)
            self._write(self._table, key, raw, partition)
            self._cache[key] = (raw, partition, state)

    def _load(self, key: bytes) -> tuple[int, tb.CameraTraffic] | None:
        if key in self._changed:
            return self._changed[key]
        raw = self._table.get(key)
        if raw is None:
            self._cache.pop(key, None)
            return None
        cached = self._cache.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1], cached[2]
        try:
            partition, state = _decode(raw)
        except (ValueError, KeyError, TypeError) as err:
            # a bad changelog record must not crash-loop the worker: start that camera afresh
            log.error("dropped undecodable traffic state of %r: %r", key, err)
            self._cache.pop(key, None)
            return None
        self._cache[key] = (raw, partition, state)
        return partition, state

    def _state(self, camera_id: str, partition: int) -> tb.CameraTraffic:
        key = camera_id.encode()
        loaded = self._load(key)
        state = loaded[1] if loaded is not None else tb.CameraTraffic(camera_id)
        self._changed[key] = (partition, state)
        return state

    def state(self, camera_id: str) -> tb.CameraTraffic | None:
        loaded = self._load(camera_id.encode())
        return None if loaded is None else loaded[1]

    def _done(self) -> None:
        if not self._batching:
            self._flush()

    # -- input -----------------------------------------------------------------------------

    def feed(self, items: Iterable[tuple[int, TrafficInput]]) -> None:
        """What the tracklet processor saw (``take_traffic``), in order: frames, rule hits
        and speeds, each with its camera's partition."""
        for partition, item in items:
            state = self._state(item.camera_id, partition)
            if isinstance(item, FrameSeen):
                state.frame(item.captured_at, item.wall, self.max_gap_s)
                if state.inside:
                    state.keep_zones([z.id for z in self._rules(item.camera_id).zones])
            elif isinstance(item, RuleHit):
                late = state.late
                if state.hit(item):
                    self.counters.hits += 1
                elif state.late == late:
                    self.counters.repeats += 1
            elif state.speed(item):
                self.counters.speeds += 1
            if state.late:
                self.counters.late += state.late
                log.warning(
                    "%s: %d traffic hits or speeds came after their bin settled (dropped)",
                    item.camera_id,
                    state.late,
                )
                state.late = 0
        self._done()

    # -- output ----------------------------------------------------------------------------

    def cameras_in(self, partition: int) -> list[str]:
        keys = set(self._table.keys()) | set(self._changed)
        out = []
        for key in sorted(keys):
            loaded = self._load(key)
            if loaded is not None and loaded[0] == partition:
                out.append(loaded[1].camera_id)
        return out

    def due(self, partitions: Sequence[int], wall: float) -> list[tuple[int, TrafficBins]]:
        """Settle the bins the cameras of ``partitions`` have left behind and take the rows
        due to be sent, as (partition, message) (several messages for one camera when its
        rows are many)."""
        out: list[tuple[int, TrafficBins]] = []
        for partition in partitions:
            for camera_id in self.cameras_in(partition):
                loaded = self._load(camera_id.encode())
                assert loaded is not None
                state = loaded[1]
                before = (len(state.bins), bool(state.dirty), len(state.tracks), state.sealed)
                rows = state.take_rows(wall, self.emit_s, self.settle_s)
                after = (len(state.bins), bool(state.dirty), len(state.tracks), state.sealed)
                if rows or before != after:
                    self._changed[camera_id.encode()] = (partition, state)
                out.extend((partition, m) for m in messages(camera_id, rows, wall))
        self.counters.messages += len(out)
        self._done()
        return out


def messages(camera_id: str, rows: Sequence[StreamRow], wall: float) -> list[TrafficBins]:
    """``rows`` of one camera as ``TrafficBins`` messages of at most
    ``MAX_ROWS_PER_MESSAGE`` rows each."""
    return [
        TrafficBins.of(camera_id, rows[i : i + MAX_ROWS_PER_MESSAGE], wall)
        for i in range(0, len(rows), MAX_ROWS_PER_MESSAGE)
    ]
