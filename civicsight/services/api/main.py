"""API service: the track store, tokens, cameras, live tiles, watchlist alerts and the
watchlist behind uvicorn.

``python -m services.api.main``. Stops cleanly on SIGTERM/SIGINT: uvicorn drains the
open requests, then the live feed and the stores are closed. The alert store and the
watchlist are the files the faces service writes (``<data_dir>/alerts.db``,
``CIVICSIGHT_WATCHLIST_PATH`` or ``<data_dir>/watchlist.db``); enrolment uses the faces
service's models and threshold (``CIVICSIGHT_FACE_*``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.auth import TokenStore, auth_db_path
from civicsight.bus import KafkaPublisher, KafkaSubscriber, Subscriber, stop_on_signals
from civicsight.cameras import CameraConfig, load_cameras
from civicsight.logs import setup_logging
from civicsight.metrics import start_metrics
from civicsight.models.appearance import AppearanceSettings
from civicsight.models.registry import ModelUnavailableError, resolve
from civicsight.models.runtimes.face_encoder import ModelChoice
from civicsight.services.api.app import create_app
from civicsight.services.api.camera_registry import CameraRegistry
from civicsight.services.api.embedder import ReidImageEmbedder
from civicsight.services.api.face_models import LazyFaceEncoder
from civicsight.services.api.feed import Feed
from civicsight.services.api.live import LiveFeed, LiveView
from civicsight.services.api.redact import YuNetFaces, redact_faces
from civicsight.services.api.server import api_server
from civicsight.services.api.state import ApiState, Enrolment
from civicsight.settings import CameraFiles, DisclosureSettings
from civicsight.store import TrackStore
from civicsight.store.config import StoreSettings, build_store, describe
from civicsight.users import UserStore
from civicsight.watchlist import FaceMatchSettings, WatchlistStore

log = logging.getLogger("api")


class ApiSettings(
    StoreSettings, AppearanceSettings, FaceMatchSettings, CameraFiles, DisclosureSettings
):
    """Settings of the API service (CIVICSIGHT_API_HOST, CIVICSIGHT_API_PORT, ...)."""

    api_host: str = Field("127.0.0.1", description="address the API listens on")
    api_port: int = Field(8080, ge=1, le=65535, description="port the API listens on")
    store_path: Path = Field(
        Path("data/tracks.db"), description="SQLite track store (default: data_dir/tracks.db)"
    )
    live_feed: bool = Field(
        True, description="subscribe to frames and detections for the live camera tiles"
    )
    trusted_proxies: str = Field(
        "",
        description="addresses of reverse proxies whose X-Forwarded-For is believed, comma "
        "separated; empty: none (the peer's address is the client's)",
    )
    allowed_hosts: str = Field(
        "127.0.0.1,localhost",
        description="Host header values the API answers, comma separated (add the name "
        "users reach it by; * for any); others get 400",
    )

    @model_validator(mode="before")
    @classmethod
    def _store_in_data_dir(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("store_path"):
            data_dir = data.get("data_dir") or cls.model_fields["data_dir"].default
            data = {**data, "store_path": Path(data_dir) / "tracks.db"}
        return data

    @model_validator(mode="after")
    def _metrics_elsewhere(self) -> ApiSettings:
        if self.metrics_port == self.api_port:
            raise ValueError(
                "CIVICSIGHT_METRICS_PORT is the API's port: /metrics is never served on the "
                "public API port; give it another"
            )
        return self

    @property
    def tokens_path(self) -> Path:
        return auth_db_path(self.data_dir)

    @staticmethod
    def listed(value: str) -> list[str]:
        return [v.strip() for v in value.split(",") if v.strip()]


def load_camera_list(folder: Path) -> list[CameraConfig]:
    if not folder.is_dir():
        log.warning("no cameras folder %s: the API lists no cameras", folder)
        return []
    return load_cameras(folder)


def live_subscriber(settings: ApiSettings) -> Subscriber:
    config = settings.kafka_config()
    return KafkaSubscriber(
        config,
        LiveFeed.group_id(),
        LiveFeed.TOPICS,
        KafkaPublisher(config, "api-live"),
        offset_reset="latest",
    )


def face_finder(settings: ApiSettings) -> YuNetFaces | None:
    """The face detector that blurs live tiles for roles without face permission; without
    it the heads of person boxes are still blurred (never an unblurred frame)."""
    try:
        spec, folder = resolve(
            "face-det-yunet-s", settings.model_mirror, settings.data_dir / "models"
        )
    except ModelUnavailableError as err:
        log.warning("face blurring falls back to person heads only: %s", err)
        return None
    finder = YuNetFaces(folder / spec.files[0].name)
    finder.start()
    return finder


def face_models(settings: ApiSettings) -> LazyFaceEncoder:
    """The faces service's models for watchlist enrolment (loaded on the first one)."""
    return LazyFaceEncoder(
        ModelChoice(
            detector=settings.face_detector,
            embedder=settings.face_embedder,
            mirror=settings.model_mirror,
            cache=settings.data_dir / "models",
            detect_score=settings.face_detect_score,
        )
    )


def warm_store(store: TrackStore) -> None:
    """Build the store's in-memory search graphs in the background after start-up."""
    try:
        log.info("search index ready: %d appearance vectors", store.warm())
    except Exception as err:  # the API may stop (and close the store) before this ends
        log.warning("search index not built: %s", err)


MAX_DECODE_PIXELS = 4096 * 4096
"""OpenCV's own pixel limit in this process (it reads it at its first decode): a second
fence behind the upload's header check, far above any camera frame."""


def main() -> None:
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(MAX_DECODE_PIXELS)
    settings = ApiSettings()
    setup_logging(settings.log_level)
    # Our handlers first: uvicorn restores them and re-raises the signal after its
    # graceful shutdown, which then only sets this event instead of killing the process
    # before the stores are closed.
    stop_on_signals()
    metrics = start_metrics("api", settings.metrics_port)  # its own port, not the API's
    cameras = load_camera_list(settings.cameras_dir)
    store = build_store(
        settings.store_backend,
        settings.store_path,
        settings.es_url,
        settings.es_prefix,
        settings.es_vector_dims,
        settings.es_ca_certs,
    )
    embedder = ReidImageEmbedder(settings)
    tokens = TokenStore(settings.tokens_path)
    users = UserStore(settings.tokens_path)
    corrections = KafkaPublisher(settings.kafka_config(), "api-corrections")
    audit = AuditLog(settings.data_dir)
    alerts = AlertStore(settings.alerts_file, audit)
    watchlist = WatchlistStore(settings.watchlist_file, audit)
    face_encoder = face_models(settings)
    enrolment = Enrolment(face_encoder, settings.face_threshold, settings.face_min_px)
    faces = face_finder(settings)
    live = LiveView(redactor=(lambda im, boxes: redact_faces(im, boxes, faces)) if faces else None)
    events = Feed()
    feed = (
        LiveFeed(lambda: live_subscriber(settings), live, feed=events)
        if settings.live_feed
        else None
    )
    store.open()
    tokens.open()
    users.open()
    audit.open()
    alerts.open()
    watchlist.open()
    threading.Thread(target=warm_store, args=(store,), name="warm", daemon=True).start()
    try:
        if tokens.count_active() == 0:
            log.warning(
                "no API token issued yet: only /api/health answers. Issue one with "
                "`civicsight token --role admin --label <who>`"
            )
        if feed is not None:
            feed.start()
        state = ApiState(
            store=store,
            tokens=tokens,
            audit=audit,
            cameras=CameraRegistry(cameras, settings.cameras_dir),
            live=live,
            feed=events,
            users=users,
            publisher=corrections,
            embedder=embedder,
            alerts=alerts,
            watchlist=watchlist,
            enrolment=enrolment,
            retention=settings.retention_policy(),
            thresholds=settings.thresholds(),
        )
        app = create_app(
            state, allowed_hosts=settings.listed(settings.allowed_hosts), metrics=metrics
        )
        log.info(
            "API on http://%s:%d with %d cameras, store %s",
            settings.api_host,
            settings.api_port,
            len(cameras),
            describe(settings.store_backend, settings.store_path, settings.es_prefix),
        )
        server = api_server(
            app,
            settings.api_host,
            settings.api_port,
            settings.listed(settings.trusted_proxies),
            settings.log_level,
        )
        server.run()
        if not server.started:
            raise SystemExit(f"API could not listen on {settings.api_host}:{settings.api_port}")
    finally:
        if feed is not None:
            feed.stop()
        embedder.close()
        store.close()
        tokens.close()
        users.close()
        alerts.close()
        watchlist.close()
        face_encoder.close()
        audit.close()
        corrections.close()
        if faces is not None:
            faces.close()
        metrics.close()
        log.info("API stopped")


if __name__ == "__main__":
    main()
