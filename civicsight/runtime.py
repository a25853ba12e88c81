"""The service runtime: one place owns a service's life, so a service is only what it
reads, what it writes and what it does with a batch.

``run(ServiceClass)`` builds the service's settings, sets up logging (with redaction of
secrets), stops on SIGTERM or SIGINT, opens the service's resources (models, stores) in an
``ExitStack``, joins the bus and runs the loop:

    poll a batch -> service.handle(batch) -> publish its events, dead-letter what it refused
    -> once every event of the batch is delivered, mark the batch done (its offsets may be
    committed) -> housekeeping (``every_poll``) -> heartbeat

Delivery is asynchronous: the loop does not wait for the broker after each batch. A batch
is done (committed) only when the broker has confirmed each of its events, in any order,
so a crash at any moment redelivers what was not finished (at-least-once). When more than
``Backpressure.pause_at`` messages wait in the producer, the service pauses its partitions
and keeps polling (it stays in its group) while the deliveries drain, then resumes: the
poll thread never sleeps. On SIGTERM the batch in hand is finished, everything queued is
delivered and committed, and the resources close in reverse order; a message that cannot
be delivered by then makes the process exit non-zero.

A source service (``consumes`` empty, e.g. ingest) gives ``produce(emit, stop)`` instead
of ``handle``; the runtime sends its heartbeats and makes its threads wait while the
producer's queue is over the limit.

Counts, timings and levels go to a ``Metrics`` seam (``count``, ``observe``, ``gauge``, by
the names of ``civicsight.metric_names``, with that catalogue's labels). ``Tally`` keeps
totals in memory (logged at the stop); ``run`` gives a service ``civicsight.metrics``'
Prometheus registry, served on the process's ``/metrics`` port, so every service on the
runtime reports its batches, batch sizes, handle seconds, events in and out, dead
letters, pauses and consumer lag per topic without code of its own. A service reports
its own (inference seconds, frames per camera) through ``self.metrics``.

The decisions (``pressure``, ``settle``, ``InFlight``) are small pure pieces, tested
without a broker. The kernel's rule holds: this module imports no service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from civicsight.bus import KafkaPublisher, KafkaSubscriber, Received, stop_on_signals
from civicsight.events import Event
from civicsight.heartbeat import INTERVAL_S, Heartbeats
from civicsight.logs import setup_logging
from civicsight.metric_names import (
    BATCH_SIZE,
    BATCHES,
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_IN,
    EVENTS_OUT,
    HANDLE_SECONDS,
    PAUSES,
    RESUMES,
)
from civicsight.metrics import start_metrics
from civicsight.settings import HubSettings

__all__ = [
    "Backpressure",
    "Emit",
    "Fanout",
    "InFlight",
    "Metrics",
    "Outputs",
    "Polling",
    "Received",
    "Service",
    "Settled",
    "Tally",
    "pressure",
    "run",
    "serve",
    "settle",
    "timed",
]

log = logging.getLogger("runtime")
CLOSE_TIMEOUT_S = 10.0
"""How long the stop waits for queued messages to be delivered (the supervisor kills a
service that has not stopped after 15 s)."""
FLUSH_TIMEOUT_S = 30.0
"""How long a source's emitters wait for a full queue to drain before the service fails."""
SOURCE_TICK_S = 1.0

RUNTIME_COUNTERS = (BATCHES, EVENTS_IN, EVENTS_OUT, DEAD_LETTERS, PAUSES, RESUMES)
"""Counters every consumer service reports from its start (at 0 until something happens:
a rate over them is 0, not missing)."""

Emit = Callable[[str, str, Event], None]
"""How a source service sends an event: ``emit(topic, key, event)`` (thread-safe)."""


@dataclass(frozen=True)
class Polling:
    """How a consumer takes its input: batches of at most ``max_messages``; a poll waits
    at most ``wait_s`` for a first message, then at most ``linger_s`` for more (0: a batch
    is what has already arrived, so nothing waits under light load)."""

    max_messages: int = 64
    wait_s: float = 0.2
    linger_s: float = 0.0


@dataclass(frozen=True)
class Backpressure:
    """Limits on messages not yet delivered by the service's producer: at ``pause_at`` the
    service stops fetching input; at ``resume_at`` or fewer it fetches again."""

    pause_at: int = 1000
    resume_at: int = 100


@dataclass
class Outputs:
    """What handling a batch gave: events to publish, and input to dead-letter (with why)."""

    events: list[tuple[str, str, Event]] = field(default_factory=list)
    dead: list[tuple[Received, str]] = field(default_factory=list)

    def publish(self, topic: str, key: str, event: Event) -> None:
        self.events.append((topic, key, event))

    def dead_letter(self, received: Received, reason: str) -> None:
        self.dead.append((received, reason))


class Metrics(Protocol):
    """The metrics seam: counters, observed values (seconds, sizes) and levels, named by
    ``civicsight.metric_names`` with the labels it declares for each (``camera=...``)."""

    def count(self, name: str, value: float = 1.0, **labels: str) -> None: ...
    def observe(self, name: str, value: float, **labels: str) -> None: ...
    def gauge(self, name: str, value: float, **labels: str) -> None: ...


class Tally:
    """Metrics kept in memory: totals of counts and of observed values, and the last
    level of each gauge (labels are summed over). Thread-safe."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.levels: dict[str, float] = {}
        self._lock = threading.Lock()

    def count(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.totals[name] = self.totals.get(name, 0.0) + value

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.count(name, value)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self.levels[name] = value

    def summary(self) -> str:
        return ", ".join(
            f"{name} {value:.1f}" if name.endswith("seconds") else f"{name} {int(value)}"
            for name, value in sorted(self.totals.items())
        )


class Fanout:
    """Every call to each of several ``Metrics`` (the process's Tally and its Prometheus
    registry)."""

    def __init__(self, *targets: Metrics) -> None:
        self.targets = targets

    def count(self, name: str, value: float = 1.0, **labels: str) -> None:
        for target in self.targets:
            target.count(name, value, **labels)

    def observe(self, name: str, value: float, **labels: str) -> None:
        for target in self.targets:
            target.observe(name, value, **labels)

    def gauge(self, name: str, value: float, **labels: str) -> None:
        for target in self.targets:
            target.gauge(name, value, **labels)


SettingsT = TypeVar("SettingsT", bound=HubSettings)


class Service(Generic[SettingsT]):
    """A service on the runtime. Subclasses set ``name``, ``settings_class``, the topics
    they read (``consumes``; none for a source) and write (``publishes``), and give
    ``handle`` (or ``produce`` for a source). They never see the bus: what to publish and
    what to dead-letter is their answer, the runtime does it."""

    name: ClassVar[str]
    settings_class: ClassVar[type[HubSettings]]
    consumes: ClassVar[tuple[str, ...]] = ()
    publishes: ClassVar[tuple[str, ...]] = ()
    backpressure: ClassVar[Backpressure] = Backpressure()

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings
        self.metrics: Metrics = Tally()
        """Where the service reports its own metrics; the runtime sets it before ``open``."""

    @property
    def group(self) -> str:
        """The consumer group: processes in one group share the input."""
        return self.name

    @property
    def offset_reset(self) -> Literal["earliest", "latest"]:
        """Where a new consumer group starts reading."""
        return "earliest"

    def polling(self) -> Polling:
        return Polling()

    def open(self, resources: ExitStack) -> None:
        """Load models and open stores; register their closing on ``resources`` (they
        close after the bus, in reverse order)."""

    def handle(self, batch: list[Received]) -> Outputs:
        """One batch of decoded input (never empty) -> what to publish and dead-letter."""
        raise NotImplementedError(f"{self.name} reads {self.consumes} but has no handle")

    def stream(self, batches: Iterator[list[Received]]) -> Iterator[tuple[list[Received], Outputs]]:
        """Every batch with its outputs, in order. The default handles one batch at a time;
        a pipelined service (detect) overrides this to keep batches in flight. Batches may
        be empty (nothing came within the wait); the runtime stops the iterator on stop."""
        for batch in batches:
            yield batch, (self.handle(batch) if batch else Outputs())

    def every_poll(self, now: float) -> Outputs | None:
        """Housekeeping after each poll, batch or not (refreshing camera files, retention).
        It may publish, but has no input to dead-letter."""
        return None

    def produce(self, emit: Emit, stop: threading.Event) -> None:
        """A source's work: emit events until ``stop`` is set (or the sources end)."""
        raise NotImplementedError(f"{self.name} reads nothing and produces nothing")


@contextmanager
def timed(metrics: Metrics, name: str, **labels: str) -> Iterator[None]:
    """Observe the seconds the ``with`` block takes as ``name`` (also when it raises)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics.observe(name, time.perf_counter() - started, **labels)


def pressure(queued: int, paused: bool, limits: Backpressure) -> Literal["pause", "resume"] | None:
    """Whether to pause or resume input, given the messages not yet delivered."""
    if not paused and queued >= limits.pause_at:
        return "pause"
    if paused and queued <= limits.resume_at:
        return "resume"
    return None


@dataclass(frozen=True)
class Settled:
    """A handle result checked against its batch: the events to publish, the input to
    dead-letter, and the input that is done once the events are delivered."""

    events: list[tuple[str, str, Event]]
    dead: list[tuple[Received, str]]
    done: list[Received]


def settle(batch: list[Received], outputs: Outputs, publishes: tuple[str, ...]) -> Settled:
    """What to do with a handle result. An event for a topic the service does not declare,
    or a dead letter that is not from ``batch``, is a bug in the service (ValueError): the
    runtime never publishes what a service did not say it writes."""
    for topic_name, _, _ in outputs.events:
        if topic_name not in publishes:
            raise ValueError(f"{topic_name!r} is not among the topics this service publishes")
    in_batch = {id(r) for r in batch}
    dead: list[tuple[Received, str]] = []
    seen: set[int] = set()
    for received, reason in outputs.dead:
        if id(received) not in in_batch:
            raise ValueError("a dead letter must be an input of the batch handled")
        if id(received) not in seen:
            seen.add(id(received))
            dead.append((received, reason))
    done = [r for r in batch if id(r) not in seen]
    return Settled(list(outputs.events), dead, done)


class InFlight:
    """Batches whose events are on their way. A batch is finished (``finish`` is called
    with its input, whose offsets may then be committed) once each of its events has been
    delivered, whatever the order of the deliveries; a batch without events at once.
    Deliveries may be reported on another thread than the one adding batches."""

    def __init__(self, finish: Callable[[list[Received]], None]) -> None:
        self._finish = finish
        self._lock = threading.Lock()
        self.waiting = 0  # batches not finished yet

    def add(self, done: list[Received], events: int) -> Callable[[], None]:
        """Register a batch with ``events`` to deliver; returns the callback for each
        delivered event."""
        if events <= 0:
            self._finish(done)
            return _nothing
        left = [events]
        with self._lock:
            self.waiting += 1

        def delivered() -> None:
            with self._lock:
                left[0] -= 1
                finished = left[0] == 0
                if finished:
                    self.waiting -= 1
            if finished:
                self._finish(done)

        return delivered


def _nothing() -> None:
    pass


class _Consumer:
    """The loop of a consumer service (see the module docstring)."""

    def __init__(
        self,
        service: Service[Any],
        publisher: KafkaPublisher,
        subscriber: KafkaSubscriber,
        beats: Heartbeats,
        metrics: Metrics,
        stop: threading.Event,
    ) -> None:
        self.service, self.publisher, self.subscriber = service, publisher, subscriber
        self.beats, self.metrics, self.stop = beats, metrics, stop
        self.in_flight = InFlight(subscriber.done)
        self._poll_s = 0.0
        self._dead = 0
        self._ending = False

    def run(self) -> None:
        batches = self.service.stream(self._batches())
        try:
            while True:
                started, self._poll_s = time.perf_counter(), 0.0
                item = next(batches, None)
                if item is None:
                    break
                batch, outputs = item
                if batch:
                    # time in the service, not in polls (a pipeline polls ahead inside next)
                    handled_s = time.perf_counter() - started - self._poll_s
                    self.metrics.observe(HANDLE_SECONDS, max(0.0, handled_s))
                    self.metrics.observe(BATCH_SIZE, len(batch))
                    self.metrics.count(BATCHES)
                    self.metrics.count(EVENTS_IN, len(batch))
                self._settle(batch, outputs)
                extra = self.service.every_poll(time.time())
                if extra is not None:
                    self._settle([], extra)
                self._count_dead_letters()
                self.beats.beat(len(batch))
        finally:
            self._ending = True  # a failed service polls no more while the bus closes
            close = getattr(batches, "close", None)
            if close is not None:
                close()
            # every queued event delivered: the last batches finish and their offsets are
            # stored before the subscriber (closed next) commits
            self.publisher.close(CLOSE_TIMEOUT_S)

    def _batches(self) -> Iterator[list[Received]]:
        """Polls, run by whichever thread the service's stream pulls input on."""
        limits = self.service.polling()
        while not self.stop.is_set() and not self._ending:
            started = time.perf_counter()
            self._apply_pressure()
            if self.subscriber.paused:  # wait for deliveries (they resume the input)
                self.publisher.poll(limits.wait_s)
                batch = self.subscriber.poll_batch(limits.max_messages, 0)
            else:
                batch = self.subscriber.poll_batch(
                    limits.max_messages, limits.wait_s, limits.linger_s
                )
                self.publisher.poll(0)
            self._poll_s += time.perf_counter() - started
            yield batch

    def _apply_pressure(self) -> None:
        queued = self.publisher.queued()
        action = pressure(queued, self.subscriber.paused, self.service.backpressure)
        if action == "pause":
            parts = self.subscriber.pause()
            self.metrics.count(PAUSES)
            log.debug("%d messages not yet delivered: %d partitions paused", queued, parts)
        elif action == "resume":
            parts = self.subscriber.resume()
            self.metrics.count(RESUMES)
            log.debug("%d messages not yet delivered: %d partitions resumed", queued, parts)

    def _settle(self, batch: list[Received], outputs: Outputs) -> None:
        todo = settle(batch, outputs, self.service.publishes)
        for received, reason in todo.dead:
            self.subscriber.dead_letter(received.message, reason)
        delivered = self.in_flight.add(todo.done, len(todo.events))
        for topic_name, key, event in todo.events:
            self.publisher.publish(topic_name, key, event, on_delivered=delivered)
        if todo.events:
            self.metrics.count(EVENTS_OUT, len(todo.events))

    def _count_dead_letters(self) -> None:
        dead = self.subscriber.dead_lettered  # refused by the service or undecodable
        if dead > self._dead:
            self.metrics.count(DEAD_LETTERS, dead - self._dead)
            self._dead = dead


class _Source:
    """The life of a source service: ``produce`` runs in the calling thread; a ticker
    thread sends heartbeats, serves delivery reports, and holds the emitters while the
    producer's queue is over the limit."""

    def __init__(
        self,
        service: Service[Any],
        publisher: KafkaPublisher,
        beats: Heartbeats,
        metrics: Metrics,
        stop: threading.Event,
    ) -> None:
        self.service, self.publisher, self.beats = service, publisher, beats
        self.metrics, self.stop = metrics, stop
        self._lock = threading.Lock()
        self._sent = 0
        self._failure: BaseException | None = None

    def emit(self, topic_name: str, key: str, event: Event) -> None:
        if topic_name not in self.service.publishes:
            raise ValueError(f"{topic_name!r} is not among the topics this service publishes")
        with self._lock:
            self.publisher.publish(topic_name, key, event)
            self._sent += 1

    def run(self) -> None:
        ended = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(ended,), name="runtime-tick")
        ticker.start()
        try:
            self.service.produce(self.emit, self.stop)
        finally:
            ended.set()
            ticker.join()
            self.publisher.close(CLOSE_TIMEOUT_S)
        if self._failure is not None:
            raise self._failure

    def _tick(self, ended: threading.Event) -> None:
        try:
            while not ended.wait(SOURCE_TICK_S):
                with self._lock:
                    sent, self._sent = self._sent, 0
                    self.publisher.poll(0)
                    queued = self.publisher.queued()
                    if pressure(queued, False, self.service.backpressure) == "pause":
                        self.metrics.count(PAUSES)
                        self.publisher.flush(FLUSH_TIMEOUT_S)  # the emitters wait meanwhile
                self.metrics.count(EVENTS_OUT, sent)
                self.beats.beat(sent)
        except BaseException as err:  # delivery failed: stop the service, fail the process
            self._failure = err
            self.stop.set()


def serve(
    service: Service[Any],
    kafka: dict[str, str],
    stop: threading.Event,
    metrics: Metrics | None = None,
    heartbeat_s: float = INTERVAL_S,
) -> None:
    """Run an opened-to-be ``service`` on the bus ``kafka`` until ``stop`` is set (or a
    source's sources end). No logging or signal set-up: ``run`` does those."""
    metrics = metrics if metrics is not None else Tally()
    service.metrics = metrics
    with ExitStack() as resources:
        service.open(resources)  # models load before the group join: no rebalance waits
        publisher = KafkaPublisher(kafka, service.name)
        resources.callback(publisher.close, CLOSE_TIMEOUT_S)
        subscriber = None
        if service.consumes:
            subscriber = KafkaSubscriber(
                kafka, service.group, service.consumes, publisher, service.offset_reset
            )
            resources.callback(subscriber.close)  # closes first: commits what is done
            for name in RUNTIME_COUNTERS:
                metrics.count(name, 0)
            for topic_name in service.consumes:
                metrics.gauge(CONSUMER_LAG, 0, topic=topic_name)
        else:
            metrics.count(EVENTS_OUT, 0)
            metrics.count(PAUSES, 0)
        beats = Heartbeats(
            service.name,
            lambda beat: publisher.publish("heartbeats", service.name, beat),
            _reported_lag(subscriber, metrics) if subscriber is not None else None,
            interval_s=heartbeat_s,
        )
        log.info(
            "%s: reads %s as group %s, writes %s",
            service.name,
            ", ".join(service.consumes) or "its sources",
            service.group if service.consumes else "-",
            ", ".join(service.publishes) or "nothing",
        )
        if subscriber is not None:
            _Consumer(service, publisher, subscriber, beats, metrics, stop).run()
        else:
            _Source(service, publisher, beats, metrics, stop).run()


def _reported_lag(subscriber: KafkaSubscriber, metrics: Metrics) -> Callable[[], dict[str, int]]:
    """The subscriber's lag per topic, set on the consumer-lag gauge whenever the
    heartbeat reads it."""

    def lag() -> dict[str, int]:
        waiting = subscriber.lag()
        for topic_name, messages in waiting.items():
            metrics.gauge(CONSUMER_LAG, messages, topic=topic_name)
        return waiting

    return lag


def run(service_class: type[Service[Any]]) -> None:
    """A service's process: settings from the environment, logging with redaction,
    SIGTERM/SIGINT for a clean stop, the process's ``/metrics`` endpoint, then ``serve``.
    Raises (exit non-zero) when the service fails or messages were left undelivered."""
    settings = service_class.settings_class()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    service = service_class(settings)
    tally = Tally()
    exported = start_metrics(service.name, settings.metrics_port)
    try:
        serve(service, settings.kafka_config(), stop, Fanout(tally, exported))
    finally:
        exported.close()
        logging.getLogger(service.name).info(
            "%s stopped: %s", service.name, tally.summary() or "nothing handled"
        )
