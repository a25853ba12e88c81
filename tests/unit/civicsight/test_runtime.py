"""The service runtime's decisions, without a broker: when to pause and resume input,
what to do with a handle result, when a batch may be committed, and the service defaults."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from civicsight.events import Frame, FrameDetections
from civicsight.runtime import (
    Backpressure,
    Fanout,
    InFlight,
    Outputs,
    Received,
    Service,
    Tally,
    pressure,
    settle,
    timed,
)
from civicsight.settings import HubSettings

JPEG = b"\xff\xd8\xff\xe0test\xff\xd9"


def frame(seq: int) -> Frame:
    return Frame(camera_id="cam", seq=seq, captured_at=1.0 + seq, width=4, height=4, jpeg=JPEG)


def received(seq: int) -> Received:
    return Received("frames", "cam", frame(seq), message=f"msg-{seq}")  # type: ignore[arg-type]


def detections(seq: int) -> FrameDetections:
    return FrameDetections.from_arrays(frame(seq), [], [], [], [], "none", 2.0)


LIMITS = Backpressure(pause_at=10, resume_at=2)


@pytest.mark.parametrize(
    ("queued", "paused", "want"),
    [
        (0, False, None),
        (9, False, None),
        (10, False, "pause"),
        (500, False, "pause"),
        (500, True, None),
        (3, True, None),  # between the limits: stays paused until drained to resume_at
        (2, True, "resume"),
        (0, True, "resume"),
        (5, False, None),  # between the limits: stays running
    ],
)
def test_pressure_pauses_over_the_limit_and_resumes_once_drained(
    queued: int, paused: bool, want: str | None
) -> None:
    """Guards a service that keeps fetching while its output piles up in memory, or that
    flaps between pause and resume at one threshold, or never resumes."""
    assert pressure(queued, paused, LIMITS) == want


def outputs(events: list[int] = [], dead: list[int] = [], topic: str = "detections") -> Outputs:  # noqa: B006
    out = Outputs()
    for seq in events:
        out.publish(topic, "cam", detections(seq))
    for seq in dead:
        out.dead_letter(BATCH[seq], f"bad {seq}")
    return out


BATCH = [received(i) for i in range(4)]


@pytest.mark.parametrize(
    ("handled", "events", "dead", "done"),
    [
        (outputs(), [], [], [0, 1, 2, 3]),
        (outputs(events=[0, 2]), [0, 2], [], [0, 1, 2, 3]),
        (outputs(events=[1], dead=[3]), [1], [3], [0, 1, 2]),
        (outputs(dead=[0, 0, 2]), [], [0, 2], [1, 3]),  # twice is once
    ],
    ids=["nothing-out", "events", "events-and-a-dead-letter", "repeated-dead-letter"],
)
def test_settle_splits_a_handle_result(
    handled: Outputs, events: list[int], dead: list[int], done: list[int]
) -> None:
    """Guards a dead-lettered input also being committed as processed twice over, or an
    input neither dead-lettered nor committed (stuck partition)."""
    todo = settle(BATCH, handled, ("detections",))
    assert [e.seq for _, _, e in todo.events] == events  # type: ignore[attr-defined]
    assert [(r.event.seq, why) for r, why in todo.dead] == [(i, f"bad {i}") for i in dead]  # type: ignore[attr-defined]
    assert [r.event.seq for r in todo.done] == done  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("batch", "handled", "error"),
    [
        (BATCH, outputs(events=[0], topic="crops"), "'crops' is not among the topics"),
        ([], outputs(dead=[1]), "must be an input of the batch"),
        (BATCH[:1], outputs(dead=[1]), "must be an input of the batch"),
    ],
    ids=["undeclared-topic", "dead-letter-in-housekeeping", "dead-letter-of-another-batch"],
)
def test_settle_refuses_what_the_service_did_not_declare(
    batch: list[Received], handled: Outputs, error: str
) -> None:
    """Guards a service publishing to a topic it does not say it writes (the topic table
    and the README's service list would lie), or dead-lettering a message it was not
    given (its offset would be committed by someone else's batch)."""
    with pytest.raises(ValueError, match=error):
        settle(batch, handled, ("detections",))


@pytest.mark.parametrize(
    ("events", "deliveries", "finished_after"),
    [
        ([0], [], [[0]]),  # nothing to deliver: finished at once
        ([2], [0, 0], [[], [], [0]]),
        ([1, 1], [1, 0], [[], [], [1], [1, 0]]),  # a later batch may finish first
        ([2, 0, 1], [2, 0, 0], [[], [1], [1], [1, 2], [1, 2], [1, 2, 0]]),
    ],
    ids=["no-events", "two-events", "out-of-order", "mixed"],
)
def test_a_batch_finishes_only_when_every_event_is_delivered(
    events: list[int], deliveries: list[int], finished_after: list[list[int]]
) -> None:
    """Guards committing a batch whose output has not reached the broker (lost on a crash),
    or never committing one whose output has."""
    finished: list[int] = []
    batches = [[received(i)] for i in range(len(events))]
    flight = InFlight(lambda done: finished.append(done[0].event.seq))  # type: ignore[attr-defined]
    callbacks = []
    seen = []
    for batch, n in zip(batches, events, strict=True):
        callbacks.append(flight.add(batch, n))
        seen.append(list(finished))
    for b in deliveries:
        callbacks[b]()
        seen.append(list(finished))
    assert seen == finished_after
    assert flight.waiting == 0


class Counting(Service[HubSettings]):
    name = "counting"
    settings_class = HubSettings
    consumes = ("frames",)
    publishes = ("detections",)

    def __init__(self, settings: HubSettings) -> None:
        super().__init__(settings)
        self.handled: list[int] = []

    def handle(self, batch: list[Received]) -> Outputs:
        self.handled.append(len(batch))
        out = Outputs()
        for r in batch:
            assert isinstance(r.event, Frame)
            out.publish("detections", r.key, detections(r.event.seq))
        return out


def test_service_defaults_and_the_default_stream() -> None:
    """Guards the defaults every service relies on: its group is its name, a new group
    reads from the start, handle sees only non-empty batches and every batch (empty ones
    too) comes back in order with its outputs."""
    service = Counting(HubSettings())
    assert service.group == "counting" and service.offset_reset == "earliest"

    def batches() -> Iterator[list[Received]]:
        yield BATCH[:2]
        yield []
        yield BATCH[2:]

    got = [(len(b), len(o.events)) for b, o in service.stream(batches())]
    assert got == [(2, 2), (0, 0), (2, 2)]
    assert service.handled == [2, 2]
    assert service.every_poll(0.0) is None


def test_tally_sums_counts_and_seconds() -> None:
    tally = Tally()
    tally.count("batches")
    tally.count("batches", 2)
    tally.observe("handle_seconds", 0.25)
    tally.observe("handle_seconds", 0.5)
    assert tally.totals == {"batches": 3, "handle_seconds": 0.75}
    assert tally.summary() == "batches 3, handle_seconds 0.8"


def test_tally_sums_over_labels_and_keeps_the_last_level() -> None:
    """Guards the seam's labels and gauges breaking the Tally default (the stop's
    summary line) or a gauge summed like a counter."""
    tally = Tally()
    tally.count("frames_in", camera="a")
    tally.count("frames_in", 2, camera="b")
    tally.gauge("consumer_lag", 7, topic="frames")
    tally.gauge("consumer_lag", 3, topic="frames")
    assert tally.totals == {"frames_in": 3} and tally.levels == {"consumer_lag": 3}


def test_fanout_and_timed_reach_every_target() -> None:
    """Guards a process whose Prometheus registry or Tally misses what the other gets."""
    a, b = Tally(), Tally()
    both = Fanout(a, b)
    both.count("batches", 2)
    both.gauge("consumer_lag", 5, topic="crops")
    with pytest.raises(RuntimeError), timed(both, "handle_seconds"):
        raise RuntimeError("the block failed")  # observed all the same
    for t in (a, b):
        assert t.totals["batches"] == 2 and t.levels == {"consumer_lag": 5}
        assert 0 <= t.totals["handle_seconds"] < 1


def test_a_service_without_handle_or_produce_says_so() -> None:
    """Guards a half-written service failing silently (reading and dropping input)."""

    class Empty(Service[HubSettings]):
        name = "empty"
        settings_class = HubSettings
        consumes = ("frames",)

    with pytest.raises(NotImplementedError, match="empty reads"):
        Empty(HubSettings()).handle(BATCH)
    with pytest.raises(NotImplementedError, match="produces nothing"):
        Empty(HubSettings()).produce(lambda _t, _k, _e: None, threading.Event())
