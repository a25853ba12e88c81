"""The ingest service's settings: the camera files and the media root; nothing of its own."""

from __future__ import annotations

from civicsight.settings import CameraFiles, HubSettings, MediaSource


class IngestSettings(HubSettings, CameraFiles, MediaSource):
    """Ingest: the camera files and the media root; nothing of its own."""
