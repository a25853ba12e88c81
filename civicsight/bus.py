"""The Kafka edge: the only module that imports confluent_kafka.

Producers are idempotent and check every delivery report; messages still unsent at
shutdown raise ``UnsentMessagesError`` so the service exits non-zero. Consumers store
an offset only after the handler has processed its event (at-least-once). A message
that does not decode goes to ``<topic>.dlq`` with the reason in a header. A consumer can
pause its partitions while its own output cannot be delivered fast enough (backpressure:
the service runtime, ``civicsight.runtime``, decides when).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Protocol

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from civicsight.events import DecodeError, Event
from civicsight.retention import DEFAULT_POLICY, RetentionPolicy
from civicsight.topics import all_topic_configs, topic

log = logging.getLogger(__name__)


class DeliveryError(RuntimeError):
    """The broker refused or lost a message."""


class UnsentMessagesError(RuntimeError):
    """Messages were still queued when the producer closed."""


class Publisher(Protocol):
    def publish(self, topic_name: str, key: str, event: Event) -> None: ...
    def flush(self, timeout: float = 10.0) -> None: ...
    def close(self, timeout: float = 10.0) -> None: ...


@dataclass(frozen=True)
class Received:
    """A decoded event with where it came from (for offset storing)."""

    topic: str
    key: str
    event: Event
    message: Message


class Subscriber(Protocol):
    def poll_batch(
        self, max_messages: int, timeout: float, linger: float = 0.0
    ) -> list[Received]: ...
    def done(self, items: Iterable[Received]) -> None: ...
    def dead_letter(self, msg: Message, reason: str) -> None: ...
    def close(self) -> None: ...


class KafkaPublisher:
    """An idempotent producer. ``config`` may tune it (``linger.ms``, say) but never weaken
    the delivery guarantees (idempotence, acks from all replicas)."""

    def __init__(self, config: dict[str, str], client_id: str) -> None:
        self._producer = Producer(
            {
                "linger.ms": 5,
                "message.max.bytes": 8 * 1024 * 1024,
                **config,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
            }
        )
        self._errors: list[str] = []
        self.delivered = 0

    def _on_delivery(
        self, err: KafkaError | None, msg: Message, then: Callable[[], None] | None = None
    ) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err}")
        else:
            self.delivered += 1
            if then is not None:
                then()

    def _raise_errors(self) -> None:
        if self._errors:
            errors, self._errors = self._errors, []
            raise DeliveryError("; ".join(errors[:5]))

    def publish(
        self,
        topic_name: str,
        key: str,
        event: Event,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        """Queue ``event``; ``on_delivered`` is called (from ``poll`` or ``flush``, in the
        caller's thread) once the broker has it. A failed delivery calls nothing and
        raises ``DeliveryError`` from a later call."""
        spec = topic(topic_name)
        if not isinstance(event, spec.value_type):
            raise TypeError(f"{topic_name} carries {spec.value_type.__name__}, not {type(event)}")
        self.publish_raw(topic_name, key, event.to_bytes(), on_delivered=on_delivered)

    def publish_raw(
        self,
        topic_name: str,
        key: str,
        value: bytes,
        headers: list[tuple[str, str | bytes | None]] | None = None,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        def report(err: KafkaError | None, msg: Message) -> None:
            self._on_delivery(err, msg, on_delivered)

        while True:
            try:
                self._producer.produce(
                    topic_name, value=value, key=key.encode(), headers=headers, on_delivery=report
                )
                break
            except BufferError:  # the local queue is full (far above the runtime's limits)
                self._producer.poll(0.1)
        self._producer.poll(0)
        self._raise_errors()

    def poll(self, timeout: float = 0.0) -> None:
        """Serve delivery reports (waiting up to ``timeout`` for one); raises
        ``DeliveryError`` for messages the broker refused or lost."""
        self._producer.poll(timeout)
        self._raise_errors()

    def queued(self) -> int:
        """Messages not yet delivered (and delivery reports not yet served)."""
        return len(self._producer)

    def flush(self, timeout: float = 10.0) -> None:
        left = self._producer.flush(timeout)
        self._raise_errors()
        if left:
            raise UnsentMessagesError(f"{left} messages not delivered within {timeout}s")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued; what cannot be delivered in time is dropped from the
        queue (no retries after shutdown) and reported as ``UnsentMessagesError``."""
        try:
            self.flush(timeout)
        except UnsentMessagesError:
            self._producer.purge()
            self._producer.flush(0)
            raise


class KafkaSubscriber:
    """A consumer-group member that decodes by the topic table and dead-letters bad input.

    Offsets are committed in order per partition: the offset stored is the lowest one
    still being processed (or the next after everything seen), so marking a later event
    done, or dead-lettering it, never commits past an earlier event still in flight.

    ``pause`` stops fetching from every assigned partition until ``resume`` (partitions
    assigned meanwhile are paused at the next poll); polling goes on, so the member stays
    in its group. Resumed partitions continue where the service stopped reading.

    One thread may poll while another marks events done (a pipelined service, or delivery
    reports served elsewhere): the bookkeeping of offsets is under a lock.
    """

    def __init__(
        self,
        config: dict[str, str],
        group: str,
        topics: Sequence[str],
        dlq: KafkaPublisher,
        offset_reset: str = "earliest",
    ) -> None:
        self._topics = {name: topic(name) for name in topics}
        self._consumer = Consumer(
            {
                **config,
                "group.id": group,
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "auto.offset.reset": offset_reset,
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 1000,
                "fetch.max.bytes": 16 * 1024 * 1024,
                "fetch.wait.max.ms": 50,
            }
        )
        self._consumer.subscribe(list(topics), on_revoke=self._revoked)
        self._dlq = dlq
        self.dead_lettered = 0
        self._pending: dict[tuple[str, int], set[int]] = {}
        self._next: dict[tuple[str, int], int] = {}
        self._paused = False
        self._lock = threading.RLock()

    def _revoked(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._pending.pop((tp.topic, tp.partition), None)
                self._next.pop((tp.topic, tp.partition), None)

    def _store(self, tps: set[tuple[str, int]]) -> None:
        marks = []
        for t, p in tps:
            pending = self._pending.get((t, p))
            offset = min(pending) if pending else self._next.get((t, p))
            if offset is not None:
                marks.append(TopicPartition(t, p, offset))
        if marks:
            self._consumer.store_offsets(offsets=marks)

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> int:
        """Stop fetching from the assigned partitions; returns how many there are."""
        self._paused = True
        return self._hold()

    def resume(self) -> int:
        """Fetch again from the assigned partitions; returns how many there are."""
        self._paused = False
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.resume(assigned)
        return len(assigned)

    def _hold(self) -> int:
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.pause(assigned)
        return len(assigned)

    def poll_batch(self, max_messages: int, timeout: float, linger: float = 0.0) -> list[Received]:
        """Up to ``max_messages``: waits at most ``timeout`` for the first, then at most
        ``linger`` for the rest (0: only what has already been fetched). A batch is never
        held back to fill up longer than ``linger``: under light load every message goes
        on at once, under heavy load batches fill from what is queued."""
        if self._paused:
            self._hold()  # a rebalance may have assigned partitions since the pause
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        rest = self._consumer.consume(max_messages - 1, linger) if max_messages > 1 else []
        out: list[Received] = []
        for msg in [first, *rest]:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.retriable() or err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                    log.warning("consumer: %s", err)
                    continue
                raise KafkaException(err)
            name = msg.topic() or ""
            tp = (name, msg.partition() or 0)
            offset = msg.offset() or 0
            with self._lock:
                self._next[tp] = max(self._next.get(tp, 0), offset + 1)
                self._pending.setdefault(tp, set()).add(offset)
            key = (msg.key() or b"").decode(errors="replace")
            try:
                event = self._topics[name].value_type.from_bytes(msg.value())
            except DecodeError as bad:
                self.dead_letter(msg, str(bad))
                continue
            out.append(Received(name, key, event, msg))
        return out

    def dead_letter(self, msg: Message, reason: str) -> None:
        """Send a message that cannot be processed to ``<topic>.dlq`` and move past it."""
        name = msg.topic() or "unknown"
        headers: list[tuple[str, str | bytes | None]] = [
            ("dlq.reason", reason[:2000].encode()),
            ("dlq.topic", name.encode()),
            ("dlq.partition", str(msg.partition()).encode()),
            ("dlq.offset", str(msg.offset()).encode()),
        ]
        self._dlq.publish_raw(
            f"{name}.dlq", (msg.key() or b"").decode(errors="replace"), msg.value() or b"", headers
        )
        self._dlq.flush()
        with self._lock:
            self.dead_lettered += 1
        log.warning(
            "dead-lettered %s[%s]@%s: %s", name, msg.partition(), msg.offset(), reason[:200]
        )
        self._finish([msg])

    def done(self, items: Iterable[Received]) -> None:
        """Mark events processed: only now may their offsets be committed."""
        self._finish([item.message for item in items])

    def _finish(self, messages: list[Message]) -> None:
        touched: set[tuple[str, int]] = set()
        with self._lock:
            for msg in messages:
                tp = (msg.topic() or "", msg.partition() or 0)
                self._pending.get(tp, set()).discard(msg.offset() or 0)
                touched.add(tp)
            self._store(touched)

    def lag(self) -> dict[str, int]:
        """Messages waiting per topic on this member's partitions: the high watermark of
        the latest fetch response (the consumer fetches ahead all the time, so it is at most
        a fetch old; tansu answers a ListOffsets query with a wrong high watermark) minus
        the position. Partitions not read yet count 0."""
        out: dict[str, int] = {}
        assigned = self._consumer.assignment()
        if not assigned:
            return out
        for tp in self._consumer.position(assigned):
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            waiting = high - tp.offset if high >= 0 and tp.offset >= 0 else 0
            out[tp.topic] = out.get(tp.topic, 0) + max(0, waiting)
        return out

    def close(self) -> None:
        self._consumer.close()


def ensure_topics(
    config: Mapping[str, str],
    timeout: float = 30.0,
    policy: RetentionPolicy = DEFAULT_POLICY,
) -> list[str]:
    """Create every topic of the table that is missing, and set ``retention.ms`` of the
    existing ones to what ``policy`` gives (a changed policy reaches the bus). Returns the
    names created."""
    admin = AdminClient(dict(config))
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    table = all_topic_configs(policy)
    altered = align_retention(admin, {n: c for n, _, c in table if n in existing}, timeout)
    if altered:
        log.info("retention.ms changed on %d topics: %s", len(altered), ", ".join(altered))
    wanted = [
        NewTopic(name, num_partitions=parts, replication_factor=-1, config=cfg)
        for name, parts, cfg in table
        if name not in existing
    ]
    if not wanted:
        return []
    created: list[str] = []
    for name, fut in admin.create_topics(wanted, request_timeout=timeout).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def align_retention(
    admin: AdminClient, wanted: Mapping[str, Mapping[str, str]], timeout: float
) -> list[str]:
    """Set ``retention.ms`` on the existing topics in ``wanted`` where it differs; returns
    the names changed."""
    if not wanted:
        return []
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in wanted]
    changes: list[ConfigResource] = []
    for res, fut in admin.describe_configs(resources, request_timeout=timeout).items():
        current = fut.result().get("retention.ms")
        target = wanted[res.name]["retention.ms"]
        if current is None or current.value != target:
            entry = ConfigEntry("retention.ms", target, incremental_operation=AlterConfigOpType.SET)
            changes.append(
                ConfigResource(ResourceType.TOPIC, res.name, incremental_configs=[entry])
            )
    if not changes:
        return []
    for fut in admin.incremental_alter_configs(changes, request_timeout=timeout).values():
        fut.result()
    return sorted(c.name for c in changes)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: loops check it and shut down cleanly."""
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
