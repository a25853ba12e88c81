"""Indexer: track updates, plate reads, appearances and traffic bins -> the store,
idempotently (``logic.py``); enforces the retention policy on the store. Each poll's batch
is written in one call; the runtime commits its offsets only after that.
``python -m civicsight.services.indexer.main``.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, closing

from civicsight.retention import enforce
from civicsight.runtime import Outputs, Polling, Received, Service, run
from civicsight.services.indexer.logic import index_batch
from civicsight.services.indexer.settings import IndexerSettings

log = logging.getLogger("indexer")


class Indexer(Service[IndexerSettings]):
    name = "indexer"
    settings_class = IndexerSettings
    consumes = ("track_updates", "plate_reads", "appearances", "traffic_bins")

    def polling(self) -> Polling:
        return Polling(max_messages=256, wait_s=0.2)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        self.store = resources.enter_context(closing(s.track_store()))
        self.store.open()
        self.policy = s.retention_policy()
        self.next_purge = 0.0
        self.stored = 0
        resources.callback(
            lambda: log.info("indexer stopped after %d new track versions", self.stored)
        )
        log.info("indexer writing to %s", s.describe_store())

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        self.stored += index_batch(self.store, batch, out.dead_letter, time.time())
        return out

    def every_poll(self, now: float) -> None:
        if now < self.next_purge:
            return
        for done in enforce([self.store], self.policy, now):
            if done.deleted:
                log.info("retention: deleted %d %s", done.deleted, done.data_class)
        self.next_purge = now + self.settings.purge_every_s


if __name__ == "__main__":
    run(Indexer)
