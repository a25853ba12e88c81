"""Heartbeats: when they are sent, what they count, and that health reporting never
stops a service."""

from __future__ import annotations

import pytest

from civicsight.events import Heartbeat
from civicsight.heartbeat import Heartbeats


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize(
    ("steps", "sent_at"),
    [
        ([(0.0, 0)], [1000.0]),  # the first beat goes out at once
        ([(0.0, 3), (2.0, 4), (4.9, 1), (5.0, 2)], [1000.0, 1005.0]),
        ([(0.0, 1), (12.0, 1), (13.0, 1), (17.0, 1)], [1000.0, 1012.0, 1017.0]),
    ],
)
def test_beats_are_sent_every_interval(
    steps: list[tuple[float, int]], sent_at: list[float]
) -> None:
    """Guards a heartbeat per poll (flooding the topic) or none after a quiet spell."""
    clock = Clock()
    sent: list[Heartbeat] = []
    beats = Heartbeats("detect", sent.append, interval_s=5.0, clock=clock)
    for dt, handled in steps:
        clock.t = 1000.0 + dt
        beats.beat(handled)
    assert [b.at for b in sent] == sent_at
    assert sent[-1].processed == sum(h for dt, h in steps if dt <= sent_at[-1] - 1000.0)
    assert all(b.started_at == 1000.0 and b.interval_s == 5.0 for b in sent)


def test_lag_is_reported_and_a_failing_sender_never_raises() -> None:
    clock = Clock()
    sent: list[Heartbeat] = []
    beats = Heartbeats("plates", sent.append, lambda: {"crops": 7}, clock=clock)
    assert beats.beat(2) is not None and sent[0].lag == {"crops": 7}

    def broken(_beat: Heartbeat) -> None:
        raise OSError("broker away")

    failing = Heartbeats("plates", broken, clock=clock)
    assert failing.beat(1) is None and failing.failures == 1
    lagless = Heartbeats("plates", sent.append, lambda: 1 / 0, clock=clock)  # type: ignore[arg-type, return-value]
    assert lagless.beat() is None and lagless.failures == 1
