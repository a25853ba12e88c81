"""Indexer: track_updates -> the track store, idempotently; enforces the retention limit."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pydantic import Field

from civicsight.bus import KafkaPublisher, KafkaSubscriber, Received, run_loop, stop_on_signals
from civicsight.events import TrackUpdate
from civicsight.logs import setup_logging
from civicsight.settings import HubSettings
from civicsight.store.sqlite import SqliteTrackStore

log = logging.getLogger("indexer")


class IndexerSettings(HubSettings):
    store_path: Path | None = Field(None, description="SQLite file (default DATA_DIR/tracks.db)")
    retention_days: float = Field(
        30.0, gt=0, le=365, description="tracks last seen longer ago are deleted"
    )
    purge_every_s: float = Field(300.0, gt=0, description="how often retention is enforced")


def main() -> None:
    settings = IndexerSettings()
    setup_logging(settings.log_level)
    store = SqliteTrackStore(settings.store_path or settings.data_dir / "tracks.db")
    store.open()
    stop = stop_on_signals()
    dlq = KafkaPublisher(settings.kafka_config(), "indexer-dlq")
    sub = KafkaSubscriber(settings.kafka_config(), "indexer", ["track_updates"], dlq)
    next_purge = 0.0
    stored = 0

    def handle(batch: list[Received]) -> None:
        nonlocal stored
        updates = [r.event for r in batch if isinstance(r.event, TrackUpdate)]
        stored += store.upsert_many(updates, time.time())

    def enforce_retention() -> None:
        nonlocal next_purge
        now = time.time()
        if now >= next_purge:
            gone = store.purge_before(now - settings.retention_days * 86400)
            if gone:
                log.info(
                    "retention: deleted %d tracks older than %.0f days",
                    gone,
                    settings.retention_days,
                )
            next_purge = now + settings.purge_every_s

    log.info("indexer writing to %s", store.path)
    try:
        run_loop(sub, handle, stop, max_messages=256, timeout=0.2, every_poll=enforce_retention)
    finally:
        sub.close()
        dlq.close()
        store.close()
        log.info("indexer stopped after %d new track versions", stored)


if __name__ == "__main__":
    main()
