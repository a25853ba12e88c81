"""The stream app's Faust transport: the consumer it builds waits briefly on fetches."""

from __future__ import annotations

import asyncio

from civicsight.streams.faust_app import FETCH_MAX_WAIT_MS, App


def test_the_consumer_waits_briefly_on_fetches() -> None:
    """Guards the stream stage's latency: faust's own consumer holds a fetch for 1.5 s,
    which tansu serves in full when several partitions were empty (p50 450 ms a detection)."""

    async def build() -> int:
        app = App("t-fetch-wait", broker="kafka://127.0.0.1:1", web_enabled=False)
        thread = app.consumer._new_consumer_thread()
        consumer = thread._create_worker_consumer(app.transport)  # built, never started
        return int(consumer._fetch_max_wait_ms)

    assert asyncio.run(build()) == FETCH_MAX_WAIT_MS < 1500
