"""Faces service: person crops of face-enabled cameras -> watchlist matches (face_matches).

Crops of other classes, and every crop of a camera without ``analytics.faces: true``, are
skipped before their JPEG is decoded. With no live watchlist entry nothing is decoded or
embedded at all. A face that matches no entry leaves no trace: its embedding is dropped
in memory, never published, logged or stored. Logs carry counts only.

The watchlist and the camera files are reloaded every ``face_refresh_s`` seconds
(expired entries are purged then). A camera folder that no longer loads turns faces off
everywhere until it is fixed: the service fails closed.

Accountability: a match raises (or updates) an alert in ``<data_dir>/alerts.db``, written
here directly, with the matched face (cut from the crop with a margin) for the people who
review it. The face goes to the store, not on the bus: ``face_matches`` carries ids and
scores only, so no face image travels to every consumer of the topic. A new
alert, a watchlist entry purged at expiry, and a camera whose faces setting (with its
purpose and legal basis) changed since the audit log last recorded it are written to the
audit log (actor ``system``).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
from pydantic import Field

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.bus import (
    KafkaPublisher,
    KafkaSubscriber,
    Publisher,
    Received,
    Subscriber,
    heartbeats,
    run_loop,
    stop_on_signals,
)
from civicsight.cameras import CameraConfigError, load_cameras
from civicsight.events import Crop, FaceObservation
from civicsight.faces import WatchlistIndex, face_crop_jpeg
from civicsight.images import decode_jpeg
from civicsight.logs import setup_logging
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from civicsight.services.faces.logic import (
    FacesReason,
    faces_changes,
    matched,
    recorded_faces_cameras,
    wants_crop,
)
from civicsight.settings import CameraFiles, ModelSource
from civicsight.watchlist import FaceMatchSettings, WatchlistStore

log = logging.getLogger("faces")


class FacesSettings(FaceMatchSettings, CameraFiles, ModelSource):
    face_batch_max: int = Field(8, ge=1, le=64, description="crops per batch (at most)")
    face_batch_wait_ms: int = Field(200, ge=1, le=5000, description="longest wait to fill a batch")
    face_refresh_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="how often the watchlist and camera files are reloaded "
        "(expired entries purged)",
    )
    face_group: str = Field("faces", min_length=1, description="Kafka consumer group")
    face_from_start: bool = Field(
        False,
        description="a new consumer group also matches crops still kept on the topic "
        "(up to 6 h), not only new ones",
    )

    def model_choice(self) -> ModelChoice:
        return ModelChoice(
            detector=self.face_detector,
            embedder=self.face_embedder,
            mirror=self.model_mirror,
            cache=self.data_dir / "models",
            download=self.model_download,
            detect_score=self.face_detect_score,
        )


class FacesService:
    """The service's state between batches: the live watchlist and the enabled cameras."""

    def __init__(
        self,
        settings: FacesSettings,
        encoder: FaceEncoder,
        watchlist: WatchlistStore,
        publisher: Publisher,
        alerts: AlertStore,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.watchlist = watchlist
        self.publisher = publisher
        self.alerts = alerts
        self.audit: AuditLog = alerts.audit
        self.index = WatchlistIndex.empty()
        self.cameras: frozenset[str] = frozenset()
        self.recorded: dict[str, FacesReason] | None = None
        self.next_refresh = 0.0
        self.camera_error = ""
        self.counts = {"crops": 0, "skipped": 0, "no_face": 0, "matches": 0, "bad_jpeg": 0}

    def refresh(self, now: float) -> None:
        purged = self.watchlist.purge_expired(now)
        if purged:
            log.info("watchlist: purged %d expired entries", purged)
        index = self.watchlist.index(now)
        if len(index.entries) != len(self.index.entries):
            log.info("watchlist: %d live entries", len(index.entries))
        self.index = index
        try:
            folder = self.settings.cameras_dir
            configs = load_cameras(folder) if folder.is_dir() else []
            self.camera_error = ""
            reasons = {
                c.id: (c.analytics.faces_purpose or "", c.analytics.faces_legal_basis or "")
                for c in configs
                if c.analytics.faces
            }
            self.audit_cameras(reasons)
            cameras = frozenset(reasons)
        except CameraConfigError as err:
            if str(err) != self.camera_error:
                log.error("camera files do not load, faces off on every camera: %s", err)
            self.camera_error = str(err)
            cameras = frozenset()
        if cameras != self.cameras:
            log.info("faces enabled on %d cameras: %s", len(cameras), ", ".join(sorted(cameras)))
        self.cameras = cameras

    def audit_cameras(self, current: dict[str, FacesReason]) -> None:
        """Record face-enabled cameras (purpose, legal basis) that changed since the audit
        log last recorded them; the first refresh reads that state back from the log."""
        if self.recorded is None:
            entries = [
                *self.audit.entries(action="camera.faces_enabled"),
                *self.audit.entries(action="camera.faces_disabled"),
            ]
            entries.sort(key=lambda e: e.seq)
            self.recorded = recorded_faces_cameras((e.action, e.details) for e in entries)
        for action, details in faces_changes(self.recorded, current):
            self.audit.append("system", "system", action, details)
        self.recorded = dict(current)

    def every_poll(self) -> None:
        now = time.time()
        if now >= self.next_refresh:
            self.refresh(now)
            self.next_refresh = now + self.settings.face_refresh_s

    def handle(self, batch: list[Received], sub: Subscriber) -> None:
        crops: list[Crop] = []
        images: list[np.ndarray] = []
        for rec in batch:
            self.counts["crops"] += 1
            crop = rec.event
            if (
                not isinstance(crop, Crop)
                or not len(self.index)
                or not wants_crop(crop, self.cameras)
            ):
                self.counts["skipped"] += 1
                continue
            image = decode_jpeg(crop.jpeg)
            if image is None:
                self.counts["bad_jpeg"] += 1
                sub.dead_letter(rec.message, "crop JPEG cannot be decoded")
                continue
            crops.append(crop)
            images.append(image)
        if not crops:
            return
        faces = self.encoder.largest_face_boxes(images, self.settings.face_min_px)
        self.counts["no_face"] += sum(f is None for f in faces)
        found = matched(
            crops,
            [None if f is None else f[0] for f in faces],
            self.index,
            self.settings.face_threshold,
            time.time(),
        )
        kept: list[tuple[FaceObservation, bytes]] = []
        for i, obs in found:
            face = faces[i]
            assert face is not None  # only a crop with a face can match
            kept.append((obs, face_crop_jpeg(images[i], face[1])))
        del faces, images  # a face that matched nothing is gone here
        for obs, jpeg in kept:
            self.alerts.record_match(obs, jpeg)
            self.publisher.publish("face_matches", obs.camera_id, obs)
        if found:
            self.counts["matches"] += len(found)
            self.publisher.flush(30)


def run(settings: FacesSettings, stop: threading.Event) -> None:
    encoder = FaceEncoder.from_registry(settings.model_choice())
    encoder.start()
    audit = AuditLog(settings.data_dir)
    audit.open()
    watchlist = WatchlistStore(settings.watchlist_file, audit)
    watchlist.open()
    alerts = AlertStore(settings.alerts_file, audit)
    alerts.open()
    bus = KafkaPublisher(settings.kafka_config(), "faces")
    sub = KafkaSubscriber(
        settings.kafka_config(),
        settings.face_group,
        ["crops"],
        bus,
        offset_reset="earliest" if settings.face_from_start else "latest",
    )
    service = FacesService(settings, encoder, watchlist, bus, alerts)
    service.every_poll()
    log.info(
        "faces ready: %s, threshold %.2f, faces >= %d px, watchlist %s",
        encoder.label,
        settings.face_threshold,
        settings.face_min_px,
        watchlist.path,
    )
    try:
        run_loop(
            sub,
            lambda batch: service.handle(batch, sub),
            stop,
            max_messages=settings.face_batch_max,
            timeout=settings.face_batch_wait_ms / 1000,
            every_poll=service.every_poll,
            heartbeat=heartbeats("faces", bus, sub),
        )
    finally:
        sub.close()
        bus.close()
        watchlist.close()
        alerts.close()
        audit.close()
        encoder.close()
        log.info("faces stopped: %s", ", ".join(f"{k} {v}" for k, v in service.counts.items()))


def main() -> None:
    settings = FacesSettings()
    setup_logging(settings.log_level)
    run(settings, stop_on_signals())


if __name__ == "__main__":
    main()
