"""Indexer: track updates, plate reads and appearances -> the track store, idempotently;
enforces the retention limit.

Each poll's batch is written in one call. Items the store refuses (Elasticsearch: a
mapping error, say) go to ``<topic>.dlq`` with the store's reason; items refused as
"too busy" (429) are retried inside the store. Only then are the batch's offsets
committed, so an event is never lost, and a replay never duplicates or regresses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import Field

from civicsight.bus import (
    KafkaPublisher,
    KafkaSubscriber,
    Received,
    heartbeats,
    run_loop,
    stop_on_signals,
)
from civicsight.events import Appearance, PlateRead, TrackUpdate
from civicsight.logs import setup_logging
from civicsight.retention import enforce
from civicsight.store import TrackStore
from civicsight.store.config import StoreSettings, build_store, describe

log = logging.getLogger("indexer")
TOPICS = ["track_updates", "plate_reads", "appearances"]


class IndexerSettings(StoreSettings):
    store_path: Path | None = Field(None, description="SQLite file (default DATA_DIR/tracks.db)")
    purge_every_s: float = Field(
        300.0, gt=0, description="how often the retention policy is enforced on the store"
    )


def index_batch(
    store: TrackStore,
    batch: list[Received],
    dead_letter: Callable[[Received, str], None],
    now: float,
) -> int:
    """Write one batch; dead-letter what the store refused. Returns how many were new."""
    items = [r for r in batch if isinstance(r.event, TrackUpdate | PlateRead | Appearance)]
    result = store.write([r.event for r in items], now)  # type: ignore[misc]
    for pos, reason in result.failed:
        dead_letter(items[pos], f"store refused: {reason}")
    return result.applied


def main() -> None:
    settings = IndexerSettings()
    setup_logging(settings.log_level)
    path = settings.store_path or settings.data_dir / "tracks.db"
    store = build_store(
        settings.store_backend,
        path,
        settings.es_url,
        settings.es_prefix,
        settings.es_vector_dims,
        settings.es_ca_certs,
    )
    store.open()
    stop = stop_on_signals()
    dlq = KafkaPublisher(settings.kafka_config(), "indexer-dlq")
    sub = KafkaSubscriber(settings.kafka_config(), "indexer", TOPICS, dlq)
    next_purge = 0.0
    stored = 0
    policy = settings.retention_policy()

    def handle(batch: list[Received]) -> None:
        nonlocal stored
        stored += index_batch(
            store, batch, lambda r, why: sub.dead_letter(r.message, why), time.time()
        )

    def enforce_retention() -> None:
        nonlocal next_purge
        now = time.time()
        if now >= next_purge:
            for done in enforce([store], policy, now):
                if done.deleted:
                    log.info("retention: deleted %d %s", done.deleted, done.data_class)
            next_purge = now + settings.purge_every_s

    log.info("indexer writing to %s", describe(settings.store_backend, path, settings.es_prefix))
    try:
        run_loop(
            sub,
            handle,
            stop,
            max_messages=256,
            timeout=0.2,
            every_poll=enforce_retention,
            heartbeat=heartbeats("indexer", dlq, sub),
        )
    finally:
        sub.close()
        dlq.close()
        store.close()
        log.info("indexer stopped after %d new track versions", stored)


if __name__ == "__main__":
    main()
