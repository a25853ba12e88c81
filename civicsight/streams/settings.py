"""Settings of the stream worker (``CIVICSIGHT_*`` environment variables): the hub's
(bus, data folder, logging) and the camera files, plus the tracklet rules' timings, the
join's inputs and the worker's batches."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from civicsight.settings import CameraFiles, HubSettings
from civicsight.streams import speed as sp
from civicsight.streams import tracklets as tl
from civicsight.streams import traffic_bins as tb


class StreamSettings(HubSettings, CameraFiles):
    """Settings of the stream app (``CIVICSIGHT_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="CIVICSIGHT_", frozen=True, extra="ignore")

    join_embedding_dim: int = Field(
        256,
        ge=8,
        le=2048,
        description="length of the appearance vectors the join compares (the hub's re-ID "
        "models: 256; multi-camera scenarios say theirs)",
    )
    streams_app_id: str = Field(
        "civicsight-streams",
        pattern=r"^[a-zA-Z0-9._-]{1,100}$",
        description="Faust app id: consumer group and prefix of its internal topics",
    )
    tracklet_timeout: float = Field(
        tl.DEFAULT_TIMEOUT,
        gt=0,
        description="seconds without a detection after which a tracklet is closed",
    )
    tracklet_min_detections: int = Field(
        tl.DEFAULT_MIN_DETECTIONS,
        ge=1,
        description="detections before a tracklet is confirmed and first emitted",
    )
    tracklet_update_interval: float = Field(
        tl.DEFAULT_UPDATE_INTERVAL,
        ge=0,
        description="least capture-time seconds between two versions of an open tracklet",
    )
    tracklet_keep_closed: float = Field(
        tl.DEFAULT_KEEP_CLOSED,
        ge=0,
        description="seconds a closed tracklet id is remembered (a reappearance continues it)",
    )
    streams_expire_interval: float = Field(
        1.0, gt=0, le=60, description="seconds between two expiry sweeps"
    )
    streams_session_timeout: float = Field(
        6.0,
        ge=2,
        le=300,
        description="Kafka consumer session timeout (s); tansu joins a group after half of it",
    )

    camera_graph: Path | None = Field(
        None,
        description="cameras and links (cameras.json of ../shared/mtmc/FORMAT.md) for the "
        "cross-camera join; default: positions from the camera files, no links",
    )
    join_batch: int = Field(
        50, ge=1, le=10_000, description="most join-topic messages applied (and logged) at once"
    )
    streams_batch: int = Field(
        500, ge=1, le=10_000, description="most input events handled as one batch"
    )
    streams_batch_wait_ms: int = Field(
        10,
        ge=1,
        le=1000,
        description="how long the stream app gathers input (and join-topic) events before "
        "it handles them as a batch, unless the batch fills first: every track version "
        "waits up to this long",
    )
    rules_reload_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="how often the camera files are checked for changed counting lines and zones",
    )

    traffic_emit_s: float = Field(
        tb.DEFAULT_EMIT_S,
        gt=0,
        le=3600,
        description="least wall-clock seconds between two traffic_bins messages of one camera "
        "(the bins that changed since the last one)",
    )
    traffic_settle_s: float = Field(
        tb.DEFAULT_SETTLE_S,
        ge=0,
        le=3600,
        description="camera-clock seconds after a 15-minute bin's end before it is final; "
        "hits that come later for it are dropped and logged",
    )
    traffic_max_gap_s: float = Field(
        tb.DEFAULT_MAX_GAP_S,
        gt=0,
        le=900,
        description="longest pause between two frames of a camera still counted as watching "
        "(zone occupancy); whole bins in a longer pause are marked down",
    )
    speed_window_s: float = Field(
        sp.DEFAULT_WINDOW_S,
        ge=0.5,
        le=10,
        description="seconds of a tracklet's path, centred on a line crossing, that its speed "
        "is fitted on (calibrated cameras)",
    )

    @property
    def streams_dir(self) -> Path:
        return self.data_dir / "streams"
