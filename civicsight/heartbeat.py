"""Heartbeats: every process of the hub says every few seconds that it is alive, how much
it has handled and how far behind its inputs it is. The API shows the newest heartbeat of
each process as service health (control room, ``/api/health``).

``Heartbeats`` decides when to send (pure: the clock and the sender are passed in); a
service calls ``beat(n)`` after each poll with the number of events it handled.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from civicsight.events import Heartbeat

INTERVAL_S = 5.0


def instance_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


class Heartbeats:
    """Counts what a process handled and sends a ``Heartbeat`` every ``interval_s``.

    ``send`` publishes one (the service's publisher on the ``heartbeats`` topic);
    ``lag`` reports messages waiting per input topic (``KafkaSubscriber.lag``). A failing
    ``lag`` or ``send`` never stops the service: health is worth less than the work."""

    def __init__(
        self,
        service: str,
        send: Callable[[Heartbeat], None],
        lag: Callable[[], dict[str, int]] | None = None,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self._send = send
        self._lag = lag
        self.interval_s = interval_s
        self._clock = clock
        self.started_at = clock()
        self.processed = 0
        self._next = self.started_at  # the first beat goes out at once
        self.instance = instance_name()
        self.failures = 0

    def beat(self, handled: int = 0) -> Heartbeat | None:
        """Count ``handled`` events; send a heartbeat if one is due (returns it)."""
        self.processed += max(0, handled)
        now = self._clock()
        if now < self._next:
            return None
        self._next = now + self.interval_s
        try:
            lag = self._lag() if self._lag is not None else {}
            beat = Heartbeat(
                service=self.service,
                instance=self.instance,
                at=now,
                started_at=self.started_at,
                processed=self.processed,
                lag=lag,
                interval_s=self.interval_s,
            )
            self._send(beat)
        except Exception:
            self.failures += 1
            return None
        return beat
