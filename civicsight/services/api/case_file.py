"""A track exported as a case file: pure, no I/O (the route in ``investigation.py`` reads
the store and writes the audit entry).

The file is a zip:

- ``track.json``: the ``CaseFile`` below: the track's detail (trajectory across cameras in
  time order, plate reads with confidences, merge/split history), the cameras it was seen
  on, the case and purpose it was exported for, who exported it and when, the sequence
  number of the audit entry that records the export, and each crop's file name and
  SHA-256;
- ``crops/track.jpg``: the track's best crop (when one is stored);
- ``crops/<camera>/<tracker id>.jpg``: each tracklet's best crop (one per camera visit).

The audit entry is written before the file is built and holds the crops' SHA-256 too, so
a case file can be checked against the tamper-evident log: the entry names the file's
case, track and crops, and the file names its entry.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
import zipfile
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from civicsight.cameras import Position
from civicsight.store import TrackDetail

FORMAT = "civicsight.case-file/1"


@dataclass(frozen=True)
class CropFile:
    """One JPEG of the case file and what it shows."""

    name: str
    jpeg: bytes
    tracklet: str | None = None  # None: the track's best crop
    camera_id: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="path inside the zip")
    sha256: str = Field(description="SHA-256 of the file's bytes, hex")
    tracklet: str | None = Field(description="the tracklet it is the best crop of; null: the track")
    camera_id: str | None = Field(description="the camera that took it; null: the track's crop")


class CameraEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    name: str
    position: Position


class CaseInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: str
    purpose: str
    category: str = Field(description="kind of purpose")


class Exporter(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    user: str = Field(description="the signed-in user or token label that exported it")
    role: str


class CaseFile(BaseModel):
    """``track.json``: everything the case file holds besides the JPEGs."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    format: str = Field(FORMAT, description="name and version of this layout")
    case: CaseInfo
    exported_by: Exporter
    exported_at: float = Field(description="Unix seconds")
    exported_at_utc: str = Field(description="the same instant, ISO 8601, UTC")
    audit_entry_seq: int = Field(ge=1, description="the audit log entry (action export) of this")
    track: TrackDetail = Field(description="the track, trajectory, plate reads and history")
    cameras: list[CameraEntry] = Field(description="the cameras the track was seen on")
    files: list[FileEntry] = Field(description="the crops in the zip")


def crop_files(
    detail: TrackDetail, best: bytes | None, tracklet_crops: dict[str, bytes]
) -> list[CropFile]:
    """The case file's JPEGs: the track's best crop, then one per tracklet in time order."""
    out = [CropFile("crops/track.jpg", best)] if best is not None else []
    for leg in detail.trajectory:
        jpeg = tracklet_crops.get(leg.tracklet)
        if jpeg is not None:
            # a tracklet id is "<camera slug>/<tracker number>": a safe relative path
            out.append(CropFile(f"crops/{leg.tracklet}.jpg", jpeg, leg.tracklet, leg.camera_id))
    return out


def file_entries(crops: list[CropFile]) -> list[FileEntry]:
    return [
        FileEntry(name=c.name, sha256=c.sha256, tracklet=c.tracklet, camera_id=c.camera_id)
        for c in crops
    ]


def utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def zip_bytes(head: CaseFile, crops: list[CropFile]) -> bytes:
    """The zip: ``track.json`` first (compressed), then the JPEGs (stored: they are
    compressed already), every member dated at the export."""
    stamp = time.gmtime(head.exported_at)[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("track.json", date_time=stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, head.model_dump_json(indent=2))
        for crop in crops:
            archive.writestr(zipfile.ZipInfo(crop.name, date_time=stamp), crop.jpeg)
    return buffer.getvalue()


def download_name(case_id: str, track_id: str) -> str:
    """The zip's file name: case and track, in characters every file system takes."""

    def safe(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"

    return f"case-{safe(case_id)}-track-{safe(track_id)}.zip"
