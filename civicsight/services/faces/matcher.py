"""Matching crops against the watchlist, and what that needs between batches: the live
watchlist and the cameras with faces on.

Crops of other classes, and every crop of a camera without ``analytics.faces: true``, are
skipped before their JPEG is decoded. With no live watchlist entry nothing is decoded or
embedded at all. A face that matches no entry leaves no trace: its embedding is dropped
in memory, never published, logged or stored. Logs carry counts only.

The watchlist and the camera files are reloaded every ``face_refresh_s`` seconds
(expired entries are purged then). A camera folder that no longer loads turns faces off
everywhere until it is fixed: the matcher fails closed.

Accountability: a match raises (or updates) an alert in ``<data_dir>/alerts.db`` with the
matched face (cut from the crop with a margin) for the people who review it; the face goes
to the store, never on the bus. A new alert, a watchlist entry purged at expiry, and a
camera whose faces setting (with its purpose and legal basis) changed since the audit log
last recorded it are written to the audit log (actor ``system``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.bus import Received
from civicsight.cameras import CameraConfigError, load_cameras
from civicsight.events import Crop, FaceObservation
from civicsight.faces import WatchlistIndex, face_crop_jpeg
from civicsight.images import decode_jpeg
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.logic import (
    FacesReason,
    faces_changes,
    matched,
    recorded_faces_cameras,
    wants_crop,
)
from civicsight.services.faces.settings import FacesSettings
from civicsight.watchlist import WatchlistStore

log = logging.getLogger("faces")


@dataclass(frozen=True)
class Matches:
    """What one batch gave: the watchlist matches (their alerts recorded), the crops
    whose JPEG does not decode, and the seconds the face models took (None: no crop
    needed them)."""

    observations: list[FaceObservation]
    undecodable: list[Received]
    inference_s: float | None = None


class WatchlistMatcher:
    """The live watchlist and the enabled cameras, and the matching of a batch."""

    def __init__(
        self,
        settings: FacesSettings,
        encoder: FaceEncoder,
        watchlist: WatchlistStore,
        alerts: AlertStore,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.watchlist = watchlist
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

    def refresh_when_due(self, now: float) -> None:
        if now >= self.next_refresh:
            self.refresh(now)
            self.next_refresh = now + self.settings.face_refresh_s

    def match(self, batch: list[Received]) -> Matches:
        """The watchlist matches of a batch, each with its alert recorded."""
        crops: list[Crop] = []
        images: list[np.ndarray] = []
        undecodable: list[Received] = []
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
                undecodable.append(rec)
                continue
            crops.append(crop)
            images.append(image)
        if not crops:
            return Matches([], undecodable)
        started = time.perf_counter()
        faces = self.encoder.largest_face_boxes(images, self.settings.face_min_px)
        inference_s = time.perf_counter() - started
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
        self.counts["matches"] += len(kept)
        return Matches([obs for obs, _ in kept], undecodable, inference_s)
