"""The stream app's Faust ``App``: faust-streaming's aiokafka driver with a short fetch wait.

Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to
change it. A broker answers a fetch as soon as data arrives in principle, but the embedded
tansu broker holds a fetch that spans several partitions (the stream app's always does)
for the whole wait when they were empty at the time of asking: a detection then waited
about half the 1.5 s on average before the stream app saw it (measured: p50 450 ms,
against 15 ms at a 100 ms wait). ``FETCH_MAX_WAIT_MS`` bounds that wait. An idle stream
app then asks about twenty times a second: nothing next to the frames it reads.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 50


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class App(faust.App):
    """``faust.App`` on the short-wait transport (see the module doc)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
