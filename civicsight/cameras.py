"""Camera configuration (a YAML file per camera) and source-URL rules, for ingest and API."""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from civicsight import geometry
from civicsight.config_files import load_yaml_model, problems
from civicsight.events import CameraId, DirectionName, RuleId

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


NormPoint = tuple[float, float]
"""[x, y] as fractions of the frame's width and height, [0, 0] the top left corner: the
same on every frame size, so rules survive ``max_width`` scaling. Inside the frame means
both from 0 to 1 (checked by the line or zone, so the error names the point)."""
MAX_RULES = 32
GroundPoint = tuple[float, float]
"""[x, y] in metres on the ground plane of a camera's calibration."""


def _shape_problem(points: Sequence[NormPoint], closed: bool) -> str:
    """A point outside the frame or a point repeated next to itself; "" when none."""
    for i, (x, y) in enumerate(points):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return f"point {i} [{x:g}, {y:g}] is outside the frame (x and y go from 0 to 1)"
    for i, (a, b) in enumerate(geometry.segments(points, closed)):
        if a == b:
            return f"points {i} and {(i + 1) % len(points)} are the same point"
    return ""


class CountingLine(BaseModel):
    """A line that counts the tracklets whose box bottom-centre crosses it, per direction.

    Facing along the line from its first point to its last, as seen on screen, a crossing
    towards the right-hand side is ``to_right`` and one towards the left is ``to_left``:
    a line drawn left to right across the frame calls a downward crossing ``to_right``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: RuleId = Field(description="line id, unique among the camera's lines and zones")
    name: str = Field(min_length=1, max_length=120, description="human-readable name")
    points: tuple[NormPoint, ...] = Field(
        min_length=2,
        max_length=32,
        description="the line: [x, y] points as fractions of the frame (top left [0, 0]), "
        "at least 2; more make a polyline",
    )
    to_right: DirectionName = Field(
        "in",
        description="name of a crossing to the right-hand side (facing from the first point "
        "to the last, on screen)",
    )
    to_left: DirectionName = Field("out", description="name of a crossing to the left-hand side")

    @model_validator(mode="after")
    def _usable(self) -> CountingLine:
        if self.to_right == self.to_left:
            raise ValueError("to_right and to_left need different names")
        problem = _shape_problem(self.points, closed=False)
        if problem:
            raise ValueError(f"line {self.id}: {problem}")
        crossing = geometry.self_crossing(self.points)
        if crossing:
            raise ValueError(f"line {self.id}: segments {crossing[0]} and {crossing[1]} cross")
        return self

    def direction(self, side: int) -> str:
        """The name of a crossing that ends on ``side`` (+1 right, -1 left)."""
        return self.to_right if side > 0 else self.to_left


class Zone(BaseModel):
    """An area whose entries and exits (with the time spent inside) are reported for the
    tracklets whose box bottom-centre goes in and out."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: RuleId = Field(description="zone id, unique among the camera's lines and zones")
    name: str = Field(min_length=1, max_length=120, description="human-readable name")
    polygon: tuple[NormPoint, ...] = Field(
        min_length=3,
        max_length=64,
        description="the zone's corners in order, [x, y] as fractions of the frame, at least "
        "3; it closes itself (do not repeat the first point) and must not cross itself",
    )

    @model_validator(mode="after")
    def _usable(self) -> Zone:
        problem = _shape_problem(self.polygon, closed=True)
        if problem:
            closes = " (a zone closes itself)" if "same point" in problem else ""
            raise ValueError(f"zone {self.id}: {problem}{closes}")
        crossing = geometry.self_crossing(self.polygon, closed=True)
        if crossing:
            raise ValueError(f"zone {self.id}: edges {crossing[0]} and {crossing[1]} cross")
        if geometry.area(self.polygon) < 1e-6:
            raise ValueError(f"zone {self.id}: has no area")
        return self


class Rules(BaseModel):
    """A camera's counting lines and zones, evaluated by the stream app (``RuleHit``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    lines: tuple[CountingLine, ...] = Field(
        (), max_length=MAX_RULES, description="counting lines (see rules.lines[])"
    )
    zones: tuple[Zone, ...] = Field(
        (), max_length=MAX_RULES, description="zones (see rules.zones[])"
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> Rules:
        seen: set[str] = set()
        for rule_id in [line.id for line in self.lines] + [zone.id for zone in self.zones]:
            if rule_id in seen:
                raise ValueError(f"rule id {rule_id!r} used twice")
            seen.add(rule_id)
        return self

    @property
    def empty(self) -> bool:
        return not self.lines and not self.zones


NO_RULES = Rules()


class GroundCalibration(BaseModel):
    """Where the road is: four points of the picture and the same four points on the
    ground, in metres on a flat local plane (any origin and orientation). The stream app
    maps each tracklet's bottom-centre through the homography these define, so speeds
    over the camera's counting lines can be measured (``streams.speed``).

    Take four marks that lie on the road surface and that you can measure or read off a
    map (lane-marking ends, kerb corners, manhole covers), spread over the area the lines
    cover. No three of the image points, nor of the ground points, may lie on one line,
    and the four must be in the same order in both lists.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    image: tuple[NormPoint, NormPoint, NormPoint, NormPoint] = Field(
        description="four [x, y] points of the picture, as fractions of the frame (top left [0, 0])"
    )
    ground: tuple[GroundPoint, GroundPoint, GroundPoint, GroundPoint] = Field(
        description="the same four points on the ground, [x, y] in metres, in the same order"
    )

    @model_validator(mode="after")
    def _usable(self) -> GroundCalibration:
        problem = _shape_problem(self.image, closed=True)
        if problem:
            raise ValueError(f"calibration image: {problem}")
        for name, points in (("image", self.image), ("ground", self.ground)):
            for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
                if geometry.nearly_collinear(points[i], points[j], points[k]):
                    raise ValueError(
                        f"calibration {name}: points {i}, {j} and {k} lie on one line (or "
                        "nearly); take four points of which no three are in line"
                    )
        h = geometry.homography(self.image, self.ground)
        if len({geometry.depth(h, p) > 0 for p in self.image}) != 1:
            raise ValueError(
                "calibration: the ground points are not in the order of the image points "
                "(the map would fold the road over itself)"
            )
        return self

    @functools.cached_property
    def homography(self) -> geometry.Homography:
        """Image fractions to ground metres (computed once per calibration)."""
        return geometry.homography(self.image, self.ground)


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
    rules: Rules = Field(
        default_factory=Rules, description="counting lines and zones (see rules.*)"
    )
    calibration: GroundCalibration | None = Field(
        None,
        description="ground-plane calibration (see calibration.*): speeds over the counting "
        "lines are measured only on a calibrated camera",
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


def camera_file(folder: Path, camera_id: str) -> Path | None:
    """The YAML file of ``folder`` whose ``id`` is ``camera_id`` (files are named freely, so
    each is read); None if none is. Files that do not parse are skipped here."""
    for path in sorted(folder.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and doc.get("id") == camera_id:
            return path
    return None


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once (a temporary file in the same folder,
    fsynced, then renamed over it), keeping its permissions: a reader never sees half a
    file, and a crash leaves the old file or the new one."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)


def save_rules(folder: Path, camera_id: str, rules: Rules) -> CameraConfig:
    """Write ``rules`` into the camera's file and return the camera as now configured.

    Only the ``rules`` key changes (removed when there are none): every other field of
    the file is kept as it was, and so are the comments at its top (comments elsewhere
    are lost in the YAML round trip). The whole file is validated before it is written.
    """
    return _save_key(folder, camera_id, "rules", None if rules.empty else rules)


def save_analytics(folder: Path, camera_id: str, analytics: Analytics) -> CameraConfig:
    """Write ``analytics`` into the camera's file and return the camera as now configured,
    like ``save_rules``: only the ``analytics`` key changes, the file is validated whole
    (face matching without a purpose and a legal basis never reaches the disk), and
    written atomically. Unset purpose and legal basis are left out of the file."""
    return _save_key(folder, camera_id, "analytics", analytics)


def _save_key(folder: Path, camera_id: str, key: str, value: BaseModel | None) -> CameraConfig:
    path = camera_file(folder, camera_id)
    if path is None:
        raise CameraConfigError(f"{folder}: no camera file with id {camera_id!r}")
    text = path.read_text()
    doc: dict[str, Any] = yaml.safe_load(text)
    doc.pop(key, None)
    if value is not None:
        doc[key] = value.model_dump(mode="json", exclude_none=True)
    try:
        camera = CameraConfig.model_validate(doc)
    except ValidationError as err:
        raise CameraConfigError(f"{path}: {problems(err)}") from None
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, allow_unicode=True)
    write_atomically(path, _leading_comments(text) + body)
    return camera


class RulesWatch:
    """Each camera's rules (and ground-plane calibration) from the camera files, read
    again when a file changed (checked at most every ``every_s`` seconds; a change is a
    file added, removed, or with a new modification time or size). Rules saved through the
    API so take effect without a restart. A folder that no longer loads keeps the last good
    rules and says why in the log; a camera without rules, or unknown, has none."""

    def __init__(self, folder: Path, every_s: float = 5.0) -> None:
        self.folder, self.every_s = folder, every_s
        self._rules: dict[str, Rules] = {}
        self._calibrations: dict[str, GroundCalibration] = {}
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._due = -math.inf
        self.refresh()

    def __call__(self, camera_id: str) -> Rules:
        return self._rules.get(camera_id, NO_RULES)

    def calibration(self, camera_id: str) -> GroundCalibration | None:
        """The camera's ground-plane calibration, read with its rules; None when it has
        none."""
        return self._calibrations.get(camera_id)

    def _files(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for path in sorted(self.folder.glob("*.yaml")) if self.folder.is_dir() else []:
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def refresh(self) -> bool:
        """Re-read the files if due and changed; True when the rules were reloaded."""
        now = time.monotonic()
        if now < self._due:
            return False
        self._due = now + self.every_s
        stamp = self._files()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            cameras = load_cameras(self.folder) if self.folder.is_dir() else []
        except CameraConfigError as err:
            log.warning("camera rules not reloaded: %s", err)
            return False
        fresh = {c.id: c.rules for c in cameras if not c.rules.empty}
        if fresh != self._rules:
            log.info(
                "rules now: %s",
                ", ".join(
                    f"{c}: {len(r.lines)} lines, {len(r.zones)} zones" for c, r in fresh.items()
                )
                or "(none)",
            )
        self._rules = fresh
        self._calibrations = {c.id: c.calibration for c in cameras if c.calibration is not None}
        return True
