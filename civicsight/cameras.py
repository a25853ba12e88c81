"""Camera configuration (a YAML file per camera) and source-URL rules, for ingest and API."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from civicsight.config_files import load_yaml_model
from civicsight.events import CameraId

log = logging.getLogger(__name__)
ALLOWED_SCHEMES = ("file", "media", "rtsp", "rtsps")


class CameraConfigError(ValueError):
    """A camera file that cannot be used, with the file name and the reason."""


class Position(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    x_m: float = Field(0.0, description="east offset on the city's local plane, metres")
    y_m: float = Field(0.0, description="north offset on the city's local plane, metres")


class Analytics(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    detect: bool = Field(True, description="run person/vehicle detection and tracking")
    plates: bool = Field(False, description="read licence plates of tracked vehicles")
    reid: bool = Field(False, description="compute re-identification embeddings")
    faces: bool = Field(
        False, description="match faces against the watchlist (off unless enabled per camera)"
    )


class CameraConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: CameraId = Field(description="stable camera id, used as the Kafka key")
    name: str = Field(min_length=1, max_length=120, description="human-readable name")
    source: SecretStr = Field(
        description="rtsp://, rtsps://, file:PATH or media:NAME (a file or an image folder "
        "under the media root); may hold credentials, never shown"
    )
    fps: float = Field(5.0, gt=0, le=30, description="frames per second sent to analytics")
    loop: bool = Field(True, description="restart a video file when it ends")
    max_width: int = Field(1280, ge=64, le=3840, description="frames wider are scaled down")
    jpeg_quality: int = Field(80, ge=30, le=100, description="JPEG quality of sampled frames")
    start_delay_s: float = Field(0.0, ge=0, description="wait this long before the first frame")
    position: Position = Field(default_factory=Position, description="where the camera stands")
    analytics: Analytics = Field(default_factory=Analytics, description="which analytics run")
    simulated: bool = Field(False, description="a virtual camera built from sample media")
    transform: str | None = Field(
        None,
        pattern=r"^(mirror|mirror-shift|mirror-crop-shift)$",
        description="view change for simulated cameras: mirror; mirror plus colour shift; "
        "mirror, central crop and colour shift",
    )

    @field_validator("source")
    @classmethod
    def _allowed(cls, value: SecretStr) -> SecretStr:
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ALLOWED_SCHEMES:
            raise ValueError(f"source scheme {scheme or '(none)'!r} not in {ALLOWED_SCHEMES}")
        return value

    @property
    def redacted_source(self) -> str:
        return redact_url(self.source.get_secret_value())


def redact_url(url: str) -> str:
    """The URL without user name, password or query string (which may carry tokens)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username or parts.password:
        netloc = "***@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def resolve_media_path(url: str, media_root: Path) -> Path:
    """file:/media: sources must stay inside the media root (no escaping with ..)."""
    parts = urlsplit(url)
    raw = (parts.netloc + parts.path) if parts.scheme == "media" else parts.path
    root = media_root.resolve()
    path = (root / raw.lstrip("/")).resolve() if parts.scheme == "media" else Path(raw).resolve()
    if not path.is_relative_to(root):
        raise CameraConfigError(f"{redact_url(url)}: outside the media root {root}")
    if not path.exists():
        raise CameraConfigError(f"{redact_url(url)}: no such file or folder under {root}")
    return path


def load_camera(path: Path) -> CameraConfig:
    return load_yaml_model(path, CameraConfig, CameraConfigError)


def load_cameras(folder: Path) -> list[CameraConfig]:
    cams = [load_camera(p) for p in sorted(folder.glob("*.yaml"))]
    seen: set[str] = set()
    for cam in cams:
        if cam.id in seen:
            raise CameraConfigError(f"{folder}: camera id {cam.id!r} used twice")
        seen.add(cam.id)
    return cams


def cameras_with(folder: Path, analytics: str) -> frozenset[str]:
    """Ids of the cameras whose file turns ``analytics`` (detect, plates, reid, faces) on;
    none when the folder does not exist."""
    if analytics not in Analytics.model_fields:
        raise ValueError(
            f"unknown analytics {analytics!r}; known: {', '.join(Analytics.model_fields)}"
        )
    if not folder.is_dir():
        return frozenset()
    return frozenset(c.id for c in load_cameras(folder) if getattr(c.analytics, analytics))


class CameraWatch:
    """The cameras with one analytics turned on, re-read from the camera files at most
    every ``every_s`` seconds (cameras can be switched on and off without a restart). A
    folder that no longer loads keeps the last good set and says why in the log."""

    def __init__(self, folder: Path, analytics: str, every_s: float) -> None:
        self.folder, self.analytics, self.every_s = folder, analytics, every_s
        self.ids = cameras_with(folder, analytics)
        self._due = time.monotonic() + every_s

    def refresh(self) -> None:
        if time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.every_s
        try:
            fresh = cameras_with(self.folder, self.analytics)
        except CameraConfigError as err:
            log.warning("camera files not reloaded: %s", err)
            return
        if fresh != self.ids:
            log.info("%s cameras now: %s", self.analytics, ", ".join(sorted(fresh)) or "(none)")
            self.ids = fresh
