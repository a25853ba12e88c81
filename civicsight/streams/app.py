"""The stream app (Faust): per-frame detections and crops in, ``TrackUpdate`` events out.

Wiring only: the tracklet rules live in ``streams.tracklets`` (applied to tables by
``streams.tracklet_processor``), the join in ``streams.association`` (its input log in
``streams.join_state``). ``python -m civicsight.streams.app`` runs one worker; run more
(same ``CIVICSIGHT_STREAMS_APP_ID``) to share the partitions.

``StreamApp`` holds the Faust app, its topics and tables, and what the worker knows of
its partitions (read positions, the order lock). Its agents are methods (``on_input``,
``on_tick``, ``on_correction``, ``on_join``), and so are its lifecycle hooks:
``on_assigned`` and ``on_revoked`` (Faust's partition signals) and
``on_processing_error`` (an agent's batch or event failed: the in-memory state goes back
to what the tables hold, and Faust restarts the agent as it always did).

State. One table ``<app id>-tracklets`` keyed by camera id holds each camera's open
tracklets *without* their crops (small: it is rewritten on every batch); best crops live
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

Traffic bins. The same hits, the speeds measured over the lines of calibrated cameras and
the frames seen are counted per camera and 15-minute bin (``streams.traffic_bins``) in a
third table, ``<app id>-traffic``, keyed by camera id and co-partitioned like the others
(``streams.traffic_processor``); its changelog carries the numbers over a restart, and
repeated hits are dropped. The bins that changed go out as ``TrafficBins`` on
``traffic_bins`` (at most every ``traffic_emit_s`` per camera) after each batch and on
each tick; a tick also settles the bins its partition's cameras have left behind.

Batches. Inputs are taken up to ``streams_batch`` at a time, inside
``with processor.batch():``: a camera's state is encoded and written once per batch, and
what the batch sends goes out after it. Table writes name their changelog partition
themselves (a batch has no current event).

Metrics. The worker reports through the same seam as the services on the runtime
(``civicsight.metrics``, served on ``CIVICSIGHT_METRICS_PORT``): batches, their sizes and
handle seconds, events in and out, the detections waiting, and the join's decisions by
kind (new inputs only, never a replay of the join's log).

The bus and the logs. Credentials come from ``HubSettings.kafka_config()``, as for every
service (``streams.broker`` maps them to Faust's). The worker logs like every service
(``civicsight.logs.setup_logging``: one line per record on stderr, secrets redacted in
every record, Faust's and aiokafka's included), in place of Faust's own handlers.

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
import logging
import math
import time
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, cast

import faust
from faust.types import TP

from civicsight.cameras import RulesWatch, load_cameras
from civicsight.events import (
    Appearance,
    DecodeError,
    Heartbeat,
    JoinBatch,
    PlateRead,
    TrackCorrection,
    TrackUpdate,
    TrafficBins,
)
from civicsight.geometry import Homography
from civicsight.heartbeat import Heartbeats
from civicsight.logs import setup_logging
from civicsight.metric_names import (
    BATCH_SIZE,
    BATCHES,
    CONSUMER_LAG,
    EVENTS_IN,
    EVENTS_OUT,
    HANDLE_SECONDS,
    JOIN_DECISION_KINDS,
    JOIN_DECISIONS,
)
from civicsight.metrics import start_metrics
from civicsight.runtime import Metrics, Tally
from civicsight.streams.association.engine import Associator, Settings
from civicsight.streams.association.transit import CameraGraph, CameraSpot
from civicsight.streams.broker import broker_credentials, broker_urls, raw_topic
from civicsight.streams.faust_app import App
from civicsight.streams.join import track_update
from civicsight.streams.join_state import Input, JoinProcessor
from civicsight.streams.scenario import load_graph
from civicsight.streams.settings import StreamSettings
from civicsight.streams.tracklet_processor import CROPS, DETECTIONS, TrackletProcessor
from civicsight.streams.traffic_processor import TrafficProcessor
from civicsight.topics import topic

log = logging.getLogger("civicsight.streams.app")

APPEARANCES = "appearances"
PLATE_READS = "plate_reads"
TRACK_UPDATES = "track_updates"
TRACK_CORRECTIONS = "track_corrections"
RULE_HITS = "rule_hits"
TRAFFIC_BINS = "traffic_bins"
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
TRAFFIC_STATE_BYTES = 8 * 1024 * 1024
"""Most bytes of one camera's open traffic bins in the traffic table's changelog."""


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


def positions(events: Sequence[faust.types.EventT[bytes]]) -> str:
    """Where a batch's events came from: ``topic[partition]@first-last``, comma separated."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for e in events:
        m = e.message
        first, last = spans.get((m.topic, m.partition), (m.offset, m.offset))
        spans[(m.topic, m.partition)] = (min(first, m.offset), max(last, m.offset))
    return ", ".join(f"{t}[{p}]@{a}-{b}" for (t, p), (a, b) in sorted(spans.items()))


class StreamApp:
    """The stream worker's Faust app: topics, tables, agents, timers and lifecycle hooks
    around the tracklet processor and the join (see the module doc)."""

    def __init__(self, settings: StreamSettings, metrics: Metrics | None = None) -> None:
        detections, crops = topic(DETECTIONS), topic(CROPS)
        inputs_meta = [detections, crops, topic(APPEARANCES), topic(PLATE_READS)]
        if len({t.partitions for t in inputs_meta}) != 1:
            raise ValueError("detections, crops, appearances, plate_reads need one partition count")
        partitions = detections.partitions
        for name in (RULE_HITS, TRAFFIC_BINS):
            if topic(name).partitions != partitions:
                raise ValueError(
                    f"{name} needs as many partitions as detections (it follows cameras)"
                )
        self.settings = settings
        session = settings.streams_session_timeout
        graph = camera_graph(settings)
        self.app = app = App(
            settings.streams_app_id,
            broker=broker_urls(settings.kafka_bootstrap),
            broker_credentials=broker_credentials(settings.kafka_config()),
            broker_session_timeout=session,
            broker_heartbeat_interval=min(1.0, session / 4),
            broker_rebalance_timeout=max(10.0, 2 * session),
            consumer_auto_offset_reset="earliest",
            producer_max_request_size=2 * topic(TRACK_UPDATES).max_bytes,
            producer_linger_ms=5,
            store="memory://",
            datadir=str(settings.streams_dir),
            web_enabled=False,
            topic_disable_leader=True,
            topic_partitions=partitions,
            autodiscover=False,
        )
        self.inputs = raw_topic(app, DETECTIONS, CROPS, APPEARANCES, PLATE_READS)
        self.track_updates = raw_topic(app, TRACK_UPDATES)
        self.rule_hits = raw_topic(app, RULE_HITS)
        self.traffic_bins = raw_topic(app, TRAFFIC_BINS)
        self.corrections = raw_topic(app, TRACK_CORRECTIONS)
        self.heartbeats = raw_topic(app, HEARTBEATS)
        self.ticks = raw_topic(
            app,
            f"{settings.streams_app_id}-expiry-ticks",
            internal=True,
            partitions=partitions,
            retention=timedelta(hours=1),
        )
        self.join_topic = raw_topic(
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
        traffic = app.Table(
            "traffic",
            key_type=bytes,
            value_type=bytes,
            partitions=partitions,
            extra_topic_configs={"max.message.bytes": str(TRAFFIC_STATE_BYTES)},
        )
        self.rules = RulesWatch(settings.cameras_dir, settings.rules_reload_s)
        self.processor = TrackletProcessor(
            states,
            best_crops,
            min_detections=settings.tracklet_min_detections,
            update_interval=settings.tracklet_update_interval,
            timeout=settings.tracklet_timeout,
            keep_closed=settings.tracklet_keep_closed,
            write=write_table,
            partitions=partitions,
            rules=self.rules,
            calibration=self.homography,
            speed_window=settings.speed_window_s,
            traffic=True,
        )
        self.traffic = TrafficProcessor(
            traffic,
            write=write_table,
            emit_s=settings.traffic_emit_s,
            settle_s=settings.traffic_settle_s,
            max_gap_s=settings.traffic_max_gap_s,
            rules=self.rules,
        )
        self.join = JoinProcessor(
            join_log, lambda: Associator(graph, Settings(dim=settings.join_embedding_dim))
        )
        self._in_order = asyncio.Lock()
        """Held while a batch or a tick is handled and its messages sent: join inputs of
        the two agents never interleave."""
        self._evidence_read: dict[TP, tuple[int, float]] = {}
        """(topic, partition) -> offset and capture time of the last appearance or plate
        read handled"""
        self._frames_read: dict[int, int] = {}
        """partition -> offset of the last detections message handled"""
        self._processed = 0
        """events handled since the last heartbeat"""
        self._due: list[Heartbeat] = []
        self._beats = Heartbeats("stream", self._due.append, self._lag)
        self.metrics: Metrics = metrics if metrics is not None else Tally()
        for name in (BATCHES, EVENTS_IN, EVENTS_OUT):
            self.metrics.count(name, 0)
        for kind in JOIN_DECISION_KINDS:
            self.metrics.count(JOIN_DECISIONS, 0, decision=kind)
        self.metrics.gauge(CONSUMER_LAG, 0, topic=DETECTIONS)
        self.errors = 0
        """batches or events whose processing failed"""
        self._connect()

    def _connect(self) -> None:
        app = self.app
        app.agent(self.inputs, name="tracklets")(self.on_input)
        app.agent(self.ticks, name="expiry")(self.on_tick)
        app.agent(self.corrections, name="corrections")(self.on_correction)
        app.agent(self.join_topic, name="join")(self.on_join)
        app.timer(HEARTBEAT_S, name="heartbeat")(self.send_heartbeat)
        app.timer(self.settings.streams_expire_interval, name="expiry-ticks")(self.send_ticks)
        app.on_partitions_assigned.connect(self._assigned_signal)
        app.on_partitions_revoked.connect(self._revoked_signal)

    # -- lifecycle hooks ---------------------------------------------------------------

    def on_assigned(self, assigned: set[TP]) -> None:
        """Partitions came to this worker (Faust restores their tables before the agents
        see an event)."""
        log.info("assigned %s", _describe(assigned))

    def on_revoked(self, revoked: set[TP]) -> None:
        """Partitions go elsewhere: the join partition may move, so the join forgets its
        engine and rebuilds it from the log when it comes back."""
        log.info("revoked %s", _describe(revoked))
        self.join.reset()

    def on_processing_error(self, agent: str, where: str, error: BaseException) -> None:
        """An agent failed on a batch or an event. The tracklet processor has already
        dropped the batch's unwritten changes (``processor.batch``); the join forgets an
        engine that may hold inputs it never logged. Faust then restarts the agent."""
        self.errors += 1
        log.error(
            "%s agent failed on %s (%d failures so far): %r",
            agent,
            where,
            self.errors,
            error,
            exc_info=error,
        )
        if agent == "join":
            self.join.reset()

    # Faust's signals call receivers as (app, partitions, signal=...)
    def _assigned_signal(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.on_assigned(set(args[0]))

    def _revoked_signal(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        self.on_revoked(set(args[0]))

    @contextmanager
    def _processing(self, agent: str, where: str) -> Iterator[None]:
        try:
            yield
        except Exception as error:
            self.on_processing_error(agent, where, error)
            raise

    # -- agents ------------------------------------------------------------------------

    async def on_input(self, stream: faust.StreamT[bytes]) -> None:
        """Batches of input events: tables written and messages sent once per batch."""
        # take_events exists on faust-streaming's Stream, not on its StreamT protocol
        batches = cast(faust.Stream[bytes], stream).take_events(
            self.settings.streams_batch, self.settings.streams_batch_wait_ms / 1000
        )
        async for batch in batches:
            async with self._in_order:
                with self._processing("tracklets", positions(batch)):
                    await self.handle(batch)

    async def handle(self, batch: Sequence[faust.types.EventT[bytes]]) -> None:
        processor = self.processor
        started = time.perf_counter()
        self._processed += len(batch)
        self.metrics.count(BATCHES)
        self.metrics.count(EVENTS_IN, len(batch))
        self.metrics.observe(BATCH_SIZE, len(batch))
        self.rules.refresh()
        updates: list[TrackUpdate] = []
        items: list[tuple[str, bytes]] = []
        partitions = sorted({e.message.partition for e in batch})
        # the traffic block ends first: a batch's bins are written before its tracklet states
        with processor.batch(), self.traffic.batch():
            for event in batch:
                msg = event.message
                where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
                if msg.topic == DETECTIONS:
                    self._frames_read[msg.partition] = msg.offset
                    updates += processor.on_detections(
                        event.value, msg.partition, time.time(), where
                    )
                    items += self.taken()
                elif msg.topic == CROPS:
                    processor.on_crop(event.value, msg.partition, where)
                else:
                    kind, cls = EVIDENCE[msg.topic]
                    ev = processor.decode(msg.topic, cls, event.value, where)
                    if ev is not None and event.value is not None:
                        read = (msg.offset, ev.captured_at)
                        self._evidence_read[TP(msg.topic, msg.partition)] = read
                        items.append((kind, event.value))
            for p in partitions:
                updates += processor.end_batch(p, self.hold(p))
            items += self.taken()
            self.traffic.feed(processor.take_traffic())
            bins = self.traffic.due(partitions, time.time())
        await self.forward(items)
        await self.publish(updates)
        await self.send_hits()
        await self.send_bins(bins)
        self.metrics.observe(HANDLE_SECONDS, time.perf_counter() - started)

    async def on_tick(self, stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            p = event.message.partition
            async with self._in_order:  # a clock must never overtake the closures before it
                if not self.backlog(p):  # else its frames close tracklets and move clocks
                    with self._processing("expiry", f"a tick of detections[{p}]"):
                        self.rules.refresh()
                        now = time.time()
                        updates = self.processor.on_tick(p, now, self.hold(p))
                        with self.traffic.batch():
                            self.traffic.feed(self.processor.take_traffic())
                            bins = self.traffic.due([p], now)
                        await self.forward(self.taken())
                        await self.publish(updates)
                        await self.send_hits()
                        await self.send_bins(bins)

    async def on_correction(self, stream: faust.StreamT[bytes]) -> None:
        """Operators' merge / split decisions join the join's log in the order made."""
        async for raw in stream:
            try:
                TrackCorrection.from_bytes(raw)
            except DecodeError as err:
                log.warning("track correction refused: %s", err)
                continue
            with self._processing("corrections", "a track correction"):
                await self.forward([("track_correction", raw)])

    async def on_join(self, stream: faust.StreamT[bytes]) -> None:
        batches = cast(faust.Stream[bytes], stream).take_events(
            self.settings.join_batch, self.settings.streams_batch_wait_ms / 1000
        )
        async for batch in batches:
            with self._processing("join", positions(batch)):
                items = [Input(e.message.offset, e.value or b"") for e in batch]
                changes, commit = self.join.apply(items)
                for kind, n in self.join.take_decisions().items():
                    self.metrics.count(JOIN_DECISIONS, n, decision=kind)
                now = time.time()
                await self.publish([track_update(c, now) for c in changes])
                commit()

    # -- timers ------------------------------------------------------------------------

    async def send_heartbeat(self) -> None:
        self._beats.beat(self._processed)
        self._processed = 0
        while self._due:
            beat = self._due.pop(0)
            await self.heartbeats.send(key=beat.service.encode(), value=beat.to_bytes())

    async def send_ticks(self) -> None:
        assignment = self.app.consumer.assignment()
        owned = sorted(tp.partition for tp in assignment if tp.topic == DETECTIONS)
        for p in owned:
            await self.ticks.send(value=b"", partition=p)

    # -- sending -----------------------------------------------------------------------

    def taken(self) -> list[tuple[str, bytes]]:
        return [(item.kind, item.to_bytes()) for item in self.processor.take()]

    async def publish(self, updates: list[TrackUpdate]) -> None:
        for update in updates:
            await self.track_updates.send(key=update.track_id.encode(), value=update.to_bytes())
        if updates:
            self.metrics.count(EVENTS_OUT, len(updates))

    async def send_hits(self) -> None:
        """The rule hits found so far, each to its camera's detections partition."""
        sent = 0
        for partition, hit in self.processor.take_hits():
            await self.rule_hits.send(
                key=hit.camera_id.encode(), value=hit.to_bytes(), partition=partition
            )
            sent += 1
        if sent:
            self.metrics.count(EVENTS_OUT, sent)

    async def send_bins(self, bins: list[tuple[int, TrafficBins]]) -> None:
        """Traffic rows of the bins that changed, each camera's to its partition."""
        for partition, message in bins:
            await self.traffic_bins.send(
                key=message.camera_id.encode(), value=message.to_bytes(), partition=partition
            )

    def homography(self, camera_id: str) -> Homography | None:
        """The camera's ground-plane calibration, as read from its file."""
        calibration = self.rules.calibration(camera_id)
        return None if calibration is None else calibration.homography

    async def forward(self, items: list[tuple[str, bytes]]) -> None:
        """Send join inputs in order, as few ``JoinBatch`` messages as their size allows."""
        chunk: list[tuple[str, bytes]] = []
        size = 0
        for kind, raw in items:
            if chunk and size + len(raw) > JOIN_CHUNK_BYTES:
                await self.join_topic.send(key=JOIN_KEY, value=JoinBatch.encode(chunk), partition=0)
                chunk, size = [], 0
            chunk.append((kind, raw))
            size += len(raw) + 40
        if chunk:
            await self.join_topic.send(key=JOIN_KEY, value=JoinBatch.encode(chunk), partition=0)

    # -- what the broker holds ---------------------------------------------------------

    def backlog(self, partition: int) -> bool:
        """Frames of this partition wait on the broker (or it is not fetched yet): then
        its cameras' clocks must not run on wall time, nor their tracklets time out."""
        try:
            high = self.app.consumer.highwater(TP(DETECTIONS, partition))
        except (KeyError, AssertionError):
            return True
        return high is None or high > self._frames_read.get(partition, -1) + 1

    def hold(self, partition: int) -> float:
        """Capture time up to which this partition's appearances and plate reads are read:
        infinite when none wait on the broker (Faust reads topics in no set order)."""
        cap = math.inf
        for name in EVIDENCE:
            tp = TP(name, partition)
            offset, at = self._evidence_read.get(tp, (-1, -math.inf))
            try:
                high = self.app.consumer.highwater(tp)
            except (KeyError, AssertionError):
                continue  # not ours (a rebalance is under way)
            # unknown yet (not fetched): assume some are waiting
            if high is None or high > offset + 1:
                cap = min(cap, at)
        return cap

    def _lag(self) -> dict[str, int]:
        waiting = self.detections_waiting()
        self.metrics.gauge(CONSUMER_LAG, waiting, topic=DETECTIONS)
        return {DETECTIONS: waiting}

    def detections_waiting(self) -> int:
        waiting = 0
        for tp in self.app.consumer.assignment():
            if tp.topic != DETECTIONS:
                continue
            high = self.app.consumer.highwater(tp)
            if high is not None:
                waiting += max(0, high - self._frames_read.get(tp.partition, -1) - 1)
        return waiting


def _describe(tps: set[TP]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return "; ".join(f"{t} {sorted(ps)}" for t, ps in sorted(by_topic.items())) or "nothing"


class Worker(faust.Worker):
    """Faust's worker, logging like every service of the hub: mode sets up its own
    handlers when the worker starts, and this hook puts ``civicsight.logs.setup_logging``
    in their place (one line per record on stderr, secrets redacted in every record)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        logger.handlers.clear()
        setup_logging(logging.getLevelName(level))


def worker(stream_app: StreamApp) -> Worker:
    settings = stream_app.settings
    return Worker(
        stream_app.app, loglevel=settings.log_level.lower(), workdir=str(settings.streams_dir)
    )


def main() -> None:
    settings = StreamSettings()
    settings.streams_dir.mkdir(parents=True, exist_ok=True)
    stream_app = StreamApp(settings, start_metrics("stream", settings.metrics_port))
    level = logging.getLevelName(settings.log_level.upper())
    if isinstance(level, int) and level > logging.DEBUG:
        # aiokafka and Faust build a debug record for every message sent (~15 % of the
        # worker's time at full speed) even when nothing shows it; skip them at the source
        logging.disable(logging.DEBUG)
    worker(stream_app).execute_from_commandline()  # stops cleanly on SIGTERM / SIGINT


if __name__ == "__main__":
    main()
