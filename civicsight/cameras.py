"""Camera configuration (a YAML file per camera) and source-URL rules, for ingest and API."""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicsight.config_files import load_yaml_model
from civicsight.events import CameraId

log = logging.getLogger(__name__)
ALLOWED_SCHEMES = ("file", "media", "rtsp", "rtsps")
NETWORK_SCHEMES = ("rtsp", "rtsps")
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
Network = Literal["private", "loopback"]


class CameraNetworkSettings(BaseSettings):
    """Which kinds of address a camera URL may name (read by every service that loads
    camera files). Link-local, cloud metadata, unspecified, multicast and reserved
    addresses are always refused."""

    model_config = SettingsConfigDict(env_prefix="CIVICSIGHT_", frozen=True, extra="ignore")
    camera_networks: str = Field(
        "private",
        description="address kinds camera URLs may use besides public ones, comma "
        "separated: private (RFC 1918 / ULA, where cameras usually are), loopback (lab use "
        "only); empty: public addresses only",
    )

    def allowed(self) -> frozenset[Network]:
        out: set[Network] = set()
        for part in filter(None, (p.strip() for p in self.camera_networks.split(","))):
            if part not in ("private", "loopback"):
                raise CameraConfigError(
                    f"CIVICSIGHT_CAMERA_NETWORKS: unknown {part!r}; use private, loopback"
                )
            out.add(part)  # type: ignore[arg-type]
        return frozenset(out)


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
    faces_purpose: str | None = Field(
        None,
        min_length=10,
        max_length=500,
        description="why faces are matched on this camera (required with faces: true)",
    )
    faces_legal_basis: str | None = Field(
        None,
        min_length=5,
        max_length=300,
        description="the law or decision that permits it, e.g. a court order reference "
        "(required with faces: true)",
    )

    @model_validator(mode="after")
    def _faces_need_a_reason(self) -> Analytics:
        for name in ("faces_purpose", "faces_legal_basis"):
            value = getattr(self, name)
            if value is not None and (not value.strip() or not value.isprintable()):
                raise ValueError(f"{name} must be printable text")
        if self.faces and not (self.faces_purpose and self.faces_legal_basis):
            missing = [n for n in ("faces_purpose", "faces_legal_basis") if not getattr(self, n)]
            raise ValueError(f"faces: true needs {' and '.join(missing)}")
        return self


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
    def _allowed(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        url = value.get_secret_value()
        scheme = urlsplit(url).scheme
        if scheme not in ALLOWED_SCHEMES:
            raise ValueError(f"source scheme {scheme or '(none)'!r} not in {ALLOWED_SCHEMES}")
        context = info.context if isinstance(info.context, dict) else {}
        allow = context.get("camera_networks")
        if allow is None:
            allow = CameraNetworkSettings().allowed()
        problem = host_problem(url, allow, resolve=False)
        if problem:
            raise ValueError(problem)
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


def _address_problem(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: frozenset[Network]
) -> str:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr in METADATA_IPS:
        return "a cloud metadata address"
    if addr.is_unspecified:
        return "the unspecified address"
    if addr.is_loopback:
        return "" if "loopback" in allow else "a loopback address (allow with loopback)"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast or addr.is_reserved:
        return "a multicast or reserved address"
    if addr.is_private:
        return "" if "private" in allow else "a private address (allow with private)"
    return ""


def host_problem(url: str, allow: frozenset[Network], resolve: bool) -> str:
    """Why the host of a network camera URL may not be used, or ``""``. Literal IPs and
    known metadata host names are checked always; other host names only with ``resolve``
    (every address they resolve to must pass), which ingest does before each connect."""
    parts = urlsplit(url)
    if parts.scheme not in NETWORK_SCHEMES:
        return ""
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "source has no host"
    if host in METADATA_HOSTS:
        return f"host {host!r} is a cloud metadata service"
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        why = _address_problem(literal, allow)
        return f"host {host} is {why}; CIVICSIGHT_CAMERA_NETWORKS decides" if why else ""
    if host == "localhost" or host.endswith(".localhost"):
        why = _address_problem(ipaddress.ip_address("127.0.0.1"), allow)
        return f"host {host} is {why}; CIVICSIGHT_CAMERA_NETWORKS decides" if why else ""
    if not resolve:
        return ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 554, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as err:
        return f"host {host} does not resolve ({err})"
    for info in infos:
        why = _address_problem(ipaddress.ip_address(info[4][0]), allow)
        if why:
            return f"host {host} resolves to {why}; CIVICSIGHT_CAMERA_NETWORKS decides"
    return ""


def check_network_source(url: str, allow: frozenset[Network] | None = None) -> None:
    """Refuse (``CameraConfigError``) a network camera URL whose host, resolved now, is not
    allowed; ingest calls it before every connect (a DNS answer can change)."""
    allow = CameraNetworkSettings().allowed() if allow is None else allow
    problem = host_problem(url, allow, resolve=True)
    if problem:
        raise CameraConfigError(f"{redact_url(url)}: {problem}")


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
