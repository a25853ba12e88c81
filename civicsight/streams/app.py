"""The stream app (Faust): per-frame detections and crops in, ``TrackUpdate`` events out.

Wiring only; the rules live in ``streams.tracklets``. ``python -m streams.app`` runs one
worker; run more (same ``CIVICSIGHT_STREAMS_APP_ID``) to share the partitions.

State. One table ``<app id>-tracklets`` keyed by camera id holds each camera's open
tracklets *without* their crops (small: it is rewritten on every frame); best crops live
in a second table ``<app id>-best-crops`` keyed by ``camera/track`` and are written only
when a better one arrives. Both use the in-memory store and are rebuilt from their
changelog topics when a worker starts. Faust writes a table change to the changelog
partition of the event being processed, and ``detections`` and ``crops`` are keyed by
camera id with the same partition count, so a camera's state follows its partition.

Expiry. Faust tables can only be changed while processing an event, so the ~1 s timer
does not touch them: it sends an empty tick to each partition of the internal topic
``<app id>-expiry-ticks`` that this worker owns (co-partitioned with the inputs, so
owned together), and the tick agent closes the expired tracklets of the cameras stored
in that partition. Each camera's stored value carries the partition it lives in.

The cross-camera join. Appearances and plate reads (co-partitioned with detections) are
checked and forwarded, with each closed tracklet and each camera's clock, in order, as
``JoinBatch`` messages to the internal one-partition topic ``<app id>-join``; the join
agent applies them to ``streams.association`` and publishes global tracks (``g-…``) on
``track_updates``. Its state is the ``join-log`` table: the logged inputs, replayed into a
fresh engine when a worker starts (see ``streams.join_state``). A camera's clock told to
the join never passes what its partition has read of appearances and plate reads (Faust
reads topics in no set order), and a partition with frames still waiting on the broker
lets no wall-time tick close its tracklets or move its clocks: decisions then follow
capture time, whatever the interleaving.

Counting lines and zones. Each camera's rules come from its camera file
(``civicsight.cameras.RulesWatch``, read again when a file changes, so rules saved
through the API apply within ``rules_reload_s``). ``streams.tracklets`` evaluates them as
frames arrive and when tracklets close; the ``RuleHit`` events go to ``rule_hits``, each
to the partition its camera's detections came from.

Batches. Inputs are taken up to ``streams_batch`` at a time; a camera's state is encoded
and written once per batch, and what the batch sends goes out after it. Table writes name
their changelog partition themselves (a batch has no current event).

Start-up on tansu. tansu completes a consumer group join after about half the session
timeout, and Faust's defaults (60 s session) made a worker idle ~30 s before consuming;
a 6 s session timeout (1 s heartbeats) makes that ~3 s, and the worker consumes ~5 s
after it starts. The web server, the leader topic and any declaration of the input
topics (created by ``civicsight.bus.ensure_topics``) are off. Known tansu quirk: its first
group generation is numbered 0, and aiokafka sends LeaveGroup only for generations > 0,
so when the group's first worker stops, a worker started right after waits for the old
member's session to expire as well (~13 s instead of ~5 s). Later generations leave
cleanly; Kafka itself numbers generations from 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import faust
from faust.types import TP
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from civicsight.cameras import NO_RULES, Rules, RulesWatch, load_cameras
from civicsight.events import (
    Appearance,
    Crop,
    DecodeError,
    Event,
    FrameDetections,
    Heartbeat,
    JoinBatch,
    ObjectClass,
    PartitionClock,
    PlateRead,
    RuleHit,
    TrackCorrection,
    TrackletClosed,
    TrackletRef,
    TrackUpdate,
)
from civicsight.heartbeat import Heartbeats
from civicsight.settings import CameraFiles, HubSettings
from civicsight.streams import tracklets as tl
from civicsight.streams.association.engine import Associator, Settings, TrackChange
from civicsight.streams.association.transit import CameraGraph, CameraSpot
from civicsight.streams.join_state import Input, JoinProcessor
from civicsight.streams.scenario import load_graph
from civicsight.topics import topic

log = logging.getLogger("civicsight.streams.app")

DETECTIONS = "detections"
CROPS = "crops"
APPEARANCES = "appearances"
PLATE_READS = "plate_reads"
TRACK_UPDATES = "track_updates"
TRACK_CORRECTIONS = "track_corrections"
RULE_HITS = "rule_hits"
HEARTBEATS = "heartbeats"
HEARTBEAT_S = 5.0
JOIN_KEY = b"join"
EVIDENCE: dict[str, tuple[str, type[Appearance] | type[PlateRead]]] = {
    APPEARANCES: (Appearance.kind, Appearance),
    PLATE_READS: (PlateRead.kind, PlateRead),
}
"""Topics forwarded to the join as they are (once valid), with the event kind they carry."""
JOIN_CHUNK_BYTES = 400_000
"""Most bytes of events in one join-topic message."""

E = TypeVar("E", bound=Event)


class StreamSettings(HubSettings, CameraFiles):
    """Settings of the stream app (``CIVICSIGHT_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="CIVICSIGHT_", frozen=True, extra="ignore")

    join_embedding_dim: int = Field(
        256,
        ge=8,
        le=2048,
        description="length of the appearance vectors the join compares (the hub's re-ID "
        "models: 256; multi-camera scenarios say theirs)",
    )
    streams_app_id: str = Field(
        "civicsight-streams",
        pattern=r"^[a-zA-Z0-9._-]{1,100}$",
        description="Faust app id: consumer group and prefix of its internal topics",
    )
    tracklet_timeout: float = Field(
        tl.DEFAULT_TIMEOUT,
        gt=0,
        description="seconds without a detection after which a tracklet is closed",
    )
    tracklet_min_detections: int = Field(
        tl.DEFAULT_MIN_DETECTIONS,
        ge=1,
        description="detections before a tracklet is confirmed and first emitted",
    )
    tracklet_update_interval: float = Field(
        tl.DEFAULT_UPDATE_INTERVAL,
        ge=0,
        description="least capture-time seconds between two versions of an open tracklet",
    )
    tracklet_keep_closed: float = Field(
        tl.DEFAULT_KEEP_CLOSED,
        ge=0,
        description="seconds a closed tracklet id is remembered (a reappearance continues it)",
    )
    streams_expire_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between two expiry sweeps"
    )
    streams_session_timeout: float = Field(
        6.0,
        ge=2,
        le=300,
        description="Kafka consumer session timeout (s); tansu joins a group after half of it",
    )

    camera_graph: Path | None = Field(
        None,
        description="cameras and links (cameras.json of ../shared/mtmc/FORMAT.md) for the "
        "cross-camera join; default: positions from the camera files, no links",
    )
    join_batch: int = Field(
        50, ge=1, le=10_000, description="most join-topic messages applied (and logged) at once"
    )
    streams_batch: int = Field(
        500, ge=1, le=10_000, description="most input events handled as one batch"
    )
    rules_reload_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="how often the camera files are checked for changed counting lines and zones",
    )

    @property
    def streams_dir(self) -> Path:
        return self.data_dir / "streams"


# -- the processor: tables in, updates out (no Faust, testable with plain dicts) -------------


@dataclass
class Counters:
    decoded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    updates: int = 0

    def count(self, bucket: dict[str, int], name: str) -> int:
        bucket[name] = bucket.get(name, 0) + 1
        return bucket[name]


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
    """Applies ``streams.tracklets`` to events against two key-value tables.

    ``states`` maps camera id to (partition, state without crops); ``crops`` maps
    ``camera/track`` to a ``BestCrop``. Faust tables are passed in the app, dicts in tests.
    Decoded states are cached by the identity of the stored bytes, so a frame costs one
    JSON encode, not a decode as well. Every method changes the tables synchronously
    (no ``await`` between read and write), so agents running side by side cannot lose an
    update.
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
        self.batching = False
        self._work: dict[bytes, tuple[int, tl.CameraState]] = {}
        self._buffer: dict[tuple[int, bytes], tuple[int, bytes | None]] = {}
        self._partitions = partitions or topic(DETECTIONS).partitions
        self._clock_sent: dict[int, float] = {}
        self._partition_clock: dict[int, tuple[float, float]] = {}
        """partition -> (capture time of its newest frame, wall time it came)"""
        self._rules = rules
        self.closed: list[TrackletClosed] = []
        self.clocks: list[PartitionClock] = []
        self.hits: list[tuple[int, RuleHit]] = []
        """(partition, hit) of the counting lines and zones, in order, until taken"""
        self.counters = Counters()

    # state access: writes wait in a buffer while a batch is processed (``flush``)

    def _get(self, table: MutableMapping[bytes, bytes], key: bytes) -> bytes | None:
        held = self._buffer.get((id(table), key))
        if held is not None:
            return held[1]
        return table.get(key)

    def _put(
        self, table: MutableMapping[bytes, bytes], key: bytes, value: bytes | None, partition: int
    ) -> None:
        if self.batching:
            self._buffer[(id(table), key)] = (partition, value)
        else:
            self._write(table, key, value, partition)

    def flush(self) -> None:
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
        if self.batching:  # encoded once, when the batch is flushed
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
        new, updates = tl.observe(
            old,
            event,
            now,
            min_detections=self._min_detections,
            update_interval=self._update_interval,
        )
        if new is not old:
            new, hits = tl.observe_rules(new, event, self._rules(event.camera_id))
            self.hits.extend((partition, hit) for hit in hits)
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
            new, hits = tl.close_rules(state, new, self._rules(state.camera_id))
            self.hits.extend((partition, hit) for hit in hits)
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


# -- Faust wiring -----------------------------------------------------------------------------


def broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def broker_credentials(settings: HubSettings) -> faust.types.auth.CredentialsT | None:
    """Faust credentials from the hub settings. The password leaves its ``SecretStr`` only
    here, into an object whose repr shows the user name alone."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl.create_default_context())
    if protocol not in ("SASL_PLAINTEXT", "SASL_SSL"):
        raise ValueError(f"unsupported kafka_security_protocol {protocol!r}")
    password: SecretStr | None = settings.kafka_password
    if not settings.kafka_username or password is None:
        raise ValueError(f"{protocol} needs CIVICSIGHT_KAFKA_USERNAME and _PASSWORD")
    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=password.get_secret_value(),
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
        ssl_context=ssl.create_default_context() if protocol == "SASL_SSL" else None,
    )


def _raw_topic(
    app: faust.App,
    *names: str,
    internal: bool = False,
    partitions: int | None = None,
    retention: timedelta | None = None,
) -> faust.TopicT:
    """A topic of raw bytes: events are decoded by ``civicsight.events``, not by Faust.
    Only ``internal`` topics are ever created by Faust."""
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=internal,
        partitions=partitions,
        retention=retention,
    )


@dataclass
class StreamApp:
    app: faust.App
    processor: TrackletProcessor
    join: JoinProcessor


def camera_graph(settings: StreamSettings) -> CameraGraph:
    """The join's camera graph: the graph file if set, else the camera files' positions."""
    if settings.camera_graph is not None:
        return load_graph(settings.camera_graph)
    spots = []
    if settings.cameras_dir.is_dir():
        spots = [
            CameraSpot(c.id, c.position.x_m, c.position.y_m)
            for c in load_cameras(settings.cameras_dir)
        ]
    return CameraGraph.build(spots)


def track_update(change: TrackChange, now: float) -> TrackUpdate:
    return TrackUpdate(
        track_id=change.track_id,
        version=change.version,
        cls=cast(ObjectClass, change.cls),
        tracklets=tuple(
            TrackletRef(
                camera_id=m.camera_id,
                track_id=m.track_id,
                first_seen=m.first_seen,
                last_seen=m.last_seen,
            )
            for m in change.members
        ),
        first_seen=change.first_seen,
        last_seen=change.last_seen,
        closed=change.merged_into is not None,
        merged_into=change.merged_into,
        emitted_at=now,
    )


def create_app(settings: StreamSettings) -> StreamApp:
    """Build the Faust app with its topics, tables, agents and expiry timer."""
    detections, crops, track_updates = topic(DETECTIONS), topic(CROPS), topic(TRACK_UPDATES)
    inputs_meta = [detections, crops, topic(APPEARANCES), topic(PLATE_READS)]
    if len({t.partitions for t in inputs_meta}) != 1:
        raise ValueError("detections, crops, appearances, plate_reads need one partition count")
    partitions = detections.partitions
    if topic(RULE_HITS).partitions != partitions:
        raise ValueError("rule_hits needs as many partitions as detections (hits follow cameras)")
    session = settings.streams_session_timeout
    graph = camera_graph(settings)
    app = faust.App(
        settings.streams_app_id,
        broker=broker_urls(settings.kafka_bootstrap),
        broker_credentials=broker_credentials(settings),
        broker_session_timeout=session,
        broker_heartbeat_interval=min(1.0, session / 4),
        broker_rebalance_timeout=max(10.0, 2 * session),
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=2 * track_updates.max_bytes,
        producer_linger_ms=5,
        store="memory://",
        datadir=str(settings.streams_dir),
        web_enabled=False,
        topic_disable_leader=True,
        topic_partitions=partitions,
        autodiscover=False,
    )
    inputs = _raw_topic(app, DETECTIONS, CROPS, APPEARANCES, PLATE_READS)
    out = _raw_topic(app, TRACK_UPDATES)
    hits_out = _raw_topic(app, RULE_HITS)
    ticks = _raw_topic(
        app,
        f"{settings.streams_app_id}-expiry-ticks",
        internal=True,
        partitions=partitions,
        retention=timedelta(hours=1),
    )
    join_topic = _raw_topic(
        app,
        f"{settings.streams_app_id}-join",
        internal=True,
        partitions=1,
        retention=timedelta(hours=24),
    )
    states = app.Table("tracklets", key_type=bytes, value_type=bytes, partitions=partitions)
    best_crops = app.Table(
        "best-crops",
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
        extra_topic_configs={"max.message.bytes": str(crops.max_bytes)},
    )
    join_log = app.Table(
        "join-log",
        key_type=bytes,
        value_type=bytes,
        partitions=1,
        use_partitioner=True,  # written after a batch (take_events), not inside one event
        extra_topic_configs={"max.message.bytes": str(4 * JOIN_CHUNK_BYTES)},
    )

    def write_table(
        table: MutableMapping[bytes, bytes], key: bytes, value: bytes | None, partition: int
    ) -> None:
        """Set a key with its changelog in ``partition`` (batches have no current event)."""
        ftable = cast(faust.Table, table)
        if value is None:
            ftable.data.pop(key, None)
            ftable.send_changelog(partition, key, None, value_serializer="raw")
        else:
            ftable.data[key] = value
            ftable.send_changelog(partition, key, value)

    rules = RulesWatch(settings.cameras_dir, settings.rules_reload_s)
    processor = TrackletProcessor(
        states,
        best_crops,
        min_detections=settings.tracklet_min_detections,
        update_interval=settings.tracklet_update_interval,
        timeout=settings.tracklet_timeout,
        keep_closed=settings.tracklet_keep_closed,
        write=write_table,
        partitions=partitions,
        rules=rules,
    )
    join = JoinProcessor(
        join_log, lambda: Associator(graph, Settings(dim=settings.join_embedding_dim))
    )

    async def publish(updates: list[TrackUpdate]) -> None:
        for update in updates:
            await out.send(key=update.track_id.encode(), value=update.to_bytes())

    async def send_hits() -> None:
        """The rule hits found so far, each to its camera's detections partition."""
        for partition, hit in processor.take_hits():
            await hits_out.send(
                key=hit.camera_id.encode(), value=hit.to_bytes(), partition=partition
            )

    async def forward(items: list[tuple[str, bytes]]) -> None:
        """Send join inputs in order, as few ``JoinBatch`` messages as their size allows."""
        chunk: list[tuple[str, bytes]] = []
        size = 0
        for kind, raw in items:
            if chunk and size + len(raw) > JOIN_CHUNK_BYTES:
                await join_topic.send(key=JOIN_KEY, value=JoinBatch.encode(chunk), partition=0)
                chunk, size = [], 0
            chunk.append((kind, raw))
            size += len(raw) + 40
        if chunk:
            await join_topic.send(key=JOIN_KEY, value=JoinBatch.encode(chunk), partition=0)

    def taken() -> list[tuple[str, bytes]]:
        return [(item.kind, item.to_bytes()) for item in processor.take()]

    in_order = asyncio.Lock()
    """Held while a batch or a tick is handled and its messages sent: join inputs of the
    two agents never interleave."""
    evidence_read: dict[TP, tuple[int, float]] = {}
    frames_read: dict[int, int] = {}
    processed = [0]  # events handled since the last heartbeat
    """partition -> offset of the last detections message handled"""

    def backlog(partition: int) -> bool:
        """Frames of this partition wait on the broker (or it is not fetched yet): then
        its cameras' clocks must not run on wall time, nor their tracklets time out."""
        try:
            high = app.consumer.highwater(TP(DETECTIONS, partition))
        except (KeyError, AssertionError):
            return True
        return high is None or high > frames_read.get(partition, -1) + 1

    def hold(partition: int) -> float:
        """Capture time up to which this partition's appearances and plate reads are read:
        infinite when none wait on the broker (Faust reads topics in no set order)."""
        cap = math.inf
        for name in EVIDENCE:
            tp = TP(name, partition)
            offset, at = evidence_read.get(tp, (-1, -math.inf))
            try:
                high = app.consumer.highwater(tp)
            except (KeyError, AssertionError):
                continue  # not ours (a rebalance is under way)
            # unknown yet (not fetched): assume some are waiting
            if high is None or high > offset + 1:
                cap = min(cap, at)
        return cap

    @app.agent(inputs, name="tracklets")
    async def on_input(stream: faust.StreamT[bytes]) -> None:
        """Batches of input events: tables written and messages sent once per batch."""
        # take_events exists on faust-streaming's Stream, not on its StreamT protocol
        batches = cast(faust.Stream[bytes], stream).take_events(settings.streams_batch, 0.05)
        async for batch in batches:
            async with in_order:
                await handle(batch)

    async def handle(batch: Sequence[faust.types.EventT[bytes]]) -> None:
        processed[0] += len(batch)
        rules.refresh()
        processor.batching = True
        updates: list[TrackUpdate] = []
        items: list[tuple[str, bytes]] = []
        for event in batch:
            msg = event.message
            where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
            if msg.topic == DETECTIONS:
                frames_read[msg.partition] = msg.offset
                updates += processor.on_detections(event.value, msg.partition, time.time(), where)
                items += taken()
            elif msg.topic == CROPS:
                processor.on_crop(event.value, msg.partition, where)
            else:
                kind, cls = EVIDENCE[msg.topic]
                ev = processor.decode(msg.topic, cls, event.value, where)
                if ev is not None and event.value is not None:
                    evidence_read[TP(msg.topic, msg.partition)] = (msg.offset, ev.captured_at)
                    items.append((kind, event.value))
        for p in sorted({e.message.partition for e in batch}):
            updates += processor.end_batch(p, hold(p))
        items += taken()
        processor.batching = False
        processor.flush()
        await forward(items)
        await publish(updates)
        await send_hits()

    @app.agent(ticks, name="expiry")
    async def on_tick(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            p = event.message.partition
            async with in_order:  # a clock must never overtake the closures before it
                if not backlog(p):  # else its frames close tracklets and move clocks
                    rules.refresh()
                    updates = processor.on_tick(p, time.time(), hold(p))
                    await forward(taken())
                    await publish(updates)
                    await send_hits()

    corrections = _raw_topic(app, TRACK_CORRECTIONS)

    @app.agent(corrections, name="corrections")
    async def on_correction(stream: faust.StreamT[bytes]) -> None:
        """Operators' merge / split decisions join the join's log in the order made."""
        async for raw in stream:
            try:
                TrackCorrection.from_bytes(raw)
            except DecodeError as err:
                log.warning("track correction refused: %s", err)
                continue
            await forward([("track_correction", raw)])

    @app.agent(join_topic, name="join")
    async def on_join(stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(settings.join_batch, 0.05)
        async for batch in batches:
            items = [Input(e.message.offset, e.value or b"") for e in batch]
            changes, commit = join.apply(items)
            now = time.time()
            await publish([track_update(c, now) for c in changes])
            commit()

    @app.on_partitions_revoked.connect
    def on_revoked(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        join.reset()  # the join partition may move: rebuild from the log when it comes back

    beats_out = _raw_topic(app, HEARTBEATS)
    due: list[Heartbeat] = []
    beats = Heartbeats("stream", due.append, lambda: {DETECTIONS: detections_waiting()})

    def detections_waiting() -> int:
        waiting = 0
        for tp in app.consumer.assignment():
            if tp.topic != DETECTIONS:
                continue
            high = app.consumer.highwater(tp)
            if high is not None:
                waiting += max(0, high - frames_read.get(tp.partition, -1) - 1)
        return waiting

    @app.timer(HEARTBEAT_S, name="heartbeat")
    async def send_heartbeat() -> None:
        beats.beat(processed[0])
        processed[0] = 0
        while due:
            beat = due.pop(0)
            await beats_out.send(key=beat.service.encode(), value=beat.to_bytes())

    @app.timer(settings.streams_expire_interval, name="expiry-ticks")
    async def send_ticks() -> None:
        owned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == DETECTIONS)
        for p in owned:
            await ticks.send(value=b"", partition=p)

    return StreamApp(app=app, processor=processor, join=join)


def main() -> None:
    settings = StreamSettings()
    settings.streams_dir.mkdir(parents=True, exist_ok=True)
    stream_app = create_app(settings)
    level = logging.getLevelName(settings.log_level.upper())
    if isinstance(level, int) and level > logging.DEBUG:
        # aiokafka and Faust build a debug record for every message sent (~15 % of the
        # worker's time at full speed) even when nothing shows it; skip them at the source
        logging.disable(logging.DEBUG)
    worker = faust.Worker(
        stream_app.app, loglevel=settings.log_level.lower(), workdir=str(settings.streams_dir)
    )
    worker.execute_from_commandline()  # stops cleanly on SIGTERM / SIGINT


if __name__ == "__main__":
    main()
