"""Indexer: track updates, plate reads, appearances and traffic bins -> the store,
idempotently (``logic.py``); plate sightings -> journey bins (matched in memory:
pseudonyms never reach the store); enforces the retention policy on the store. Reports
the seconds each write takes and how old each stored track version's last observation
is (capture -> store, the hub's end-to-end latency). Each poll's batch is written in one
call; the runtime commits its offsets only after that.
``python -m civicsight.services.indexer.main``.

Plate journeys are matched here rather than in the stream app because the stream app
keeps its state in changelog-backed tables: pseudonyms there would be written to Kafka
and kept by compaction for as long as the topic lives, past their key's day. Here they
live in memory only; ``plate_sightings`` is keyed by pseudonym, so each indexer process
of the group sees every sighting of the pseudonyms of its partitions.
"""

from __future__ import annotations

import logging
import secrets
import time
from contextlib import ExitStack, closing

from civicsight.metric_names import CAPTURE_TO_STORE_SECONDS, STORE_WRITE_SECONDS
from civicsight.plate_journeys import PlateJourneys
from civicsight.retention import enforce
from civicsight.runtime import Outputs, Polling, Received, Service, run, timed
from civicsight.services.indexer.logic import capture_ages, index_batch, match_sightings
from civicsight.services.indexer.settings import IndexerSettings

log = logging.getLogger("indexer")


class Indexer(Service[IndexerSettings]):
    name = "indexer"
    settings_class = IndexerSettings
    consumes = ("track_updates", "plate_reads", "appearances", "traffic_bins", "plate_sightings")

    def polling(self) -> Polling:
        return Polling(max_messages=256, wait_s=0.2)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        self.store = resources.enter_context(closing(s.track_store(writer=True)))
        self.store.open()
        self.journeys = PlateJourneys(
            run=secrets.token_hex(8),
            max_journey_s=s.plate_journey_max_s,
            lateness_s=s.plate_journey_lateness_s,
        )
        self.policy = s.retention_policy()
        self.next_purge = 0.0
        self.stored = 0
        resources.callback(self._stopped)
        log.info("indexer writing to %s", s.describe_store())

    def _stopped(self) -> None:
        st = self.journeys.stats
        log.info(
            "indexer stopped after %d new track versions; plate sightings %d, journeys %d, "
            "late %d, out of order %d",
            self.stored,
            st.sightings,
            st.journeys,
            st.late,
            st.unordered,
        )

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        now = time.time()
        with timed(self.metrics, STORE_WRITE_SECONDS):
            self.stored += index_batch(self.store, batch, out.dead_letter, now)
            match_sightings(self.store, self.journeys, batch, now)
        for age in capture_ages(batch, (r for r, _ in out.dead), time.time()):
            self.metrics.observe(CAPTURE_TO_STORE_SECONDS, age)
        return out

    def every_poll(self, now: float) -> None:
        match_sightings(self.store, self.journeys, [], now)
        self.store.save_index()
        if now < self.next_purge:
            return
        for done in enforce([self.store], self.policy, now):
            if done.deleted:
                log.info("retention: deleted %d %s", done.deleted, done.data_class)
        self.next_purge = now + self.settings.purge_every_s


if __name__ == "__main__":
    run(Indexer)
