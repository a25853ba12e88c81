"""Faces service: person crops of face-enabled cameras -> watchlist matches
(``face_matches``, ids and scores only) and alerts with the matched face in the alert store.
What is matched, and what is never kept, is in ``matcher.py``.
``python -m civicsight.services.faces.main``; the runtime (``civicsight.runtime``) does
the rest.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, closing
from typing import Literal

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.metric_names import INFERENCE_SECONDS
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.runtime import Outputs, Polling, Received, Service, run
from civicsight.services.faces.matcher import WatchlistMatcher
from civicsight.services.faces.settings import FacesSettings
from civicsight.watchlist import WatchlistStore

log = logging.getLogger("faces")


class Faces(Service[FacesSettings]):
    name = "faces"
    settings_class = FacesSettings
    consumes = ("crops",)
    publishes = ("face_matches",)
    matcher: WatchlistMatcher

    @property
    def group(self) -> str:
        return self.settings.face_group

    @property
    def offset_reset(self) -> Literal["earliest", "latest"]:
        return "earliest" if self.settings.face_from_start else "latest"

    def polling(self) -> Polling:
        return Polling(self.settings.face_batch_max, 0.2, self.settings.face_batch_wait_ms / 1000)

    def open(self, resources: ExitStack) -> None:
        s = self.settings
        encoder = resources.enter_context(closing(FaceEncoder.from_registry(s.model_choice())))
        encoder.start()
        audit = resources.enter_context(closing(AuditLog(s.data_dir)))
        audit.open()
        watchlist = resources.enter_context(closing(WatchlistStore(s.watchlist_file, audit)))
        watchlist.open()
        alerts = resources.enter_context(closing(AlertStore(s.alerts_file, audit)))
        alerts.open()
        self.matcher = WatchlistMatcher(s, encoder, watchlist, alerts)
        resources.callback(self._stopped)
        self.matcher.refresh_when_due(time.time())
        log.info(
            "faces ready: %s, threshold %.2f, faces >= %d px, watchlist %s",
            encoder.label,
            s.face_threshold,
            s.face_min_px,
            watchlist.path,
        )

    def handle(self, batch: list[Received]) -> Outputs:
        out = Outputs()
        found = self.matcher.match(batch)
        if found.inference_s is not None:
            self.metrics.observe(INFERENCE_SECONDS, found.inference_s)
        for rec in found.undecodable:
            out.dead_letter(rec, "crop JPEG cannot be decoded")
        for obs in found.observations:
            out.publish("face_matches", obs.camera_id, obs)
        return out

    def every_poll(self, now: float) -> None:
        self.matcher.refresh_when_due(now)

    def _stopped(self) -> None:
        counts = self.matcher.counts
        log.info("faces stopped: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    run(Faces)
