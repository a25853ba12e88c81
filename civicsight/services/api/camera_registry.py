"""The cameras the API serves: one registry per app, shared by every route.

The camera list, the live tiles, health, the rules editor, administration, the alert
cards, the case file and the transparency page all read it; a change saved through the
API (a camera's rules, its analytics) rewrites the camera's file and updates the
registry under one lock, so every route shows the camera as it now is, and two saves of
the same camera never interleave. Without a cameras folder the registry is read-only.

``on_disk()`` reads the camera files afresh, as the other services read them (the
faces service's cameras, for instance), without changing what the registry holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from civicsight.cameras import (
    Analytics,
    CameraConfig,
    Rules,
    load_cameras,
    save_analytics,
    save_rules,
)


class NoCamerasFolderError(RuntimeError):
    """The registry has no cameras folder: nothing can be saved."""


class CameraRegistry:
    """Thread-safe: reads take a snapshot, saves hold the registry's lock (see the
    module doc). ``folder``: where the camera files are (None: read-only)."""

    def __init__(self, cameras: Iterable[CameraConfig] = (), folder: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._cameras: dict[str, CameraConfig] = {}
        for cam in cameras:
            if cam.id in self._cameras:
                raise ValueError(f"camera id {cam.id!r} used twice")
            self._cameras[cam.id] = cam
        self._folder = Path(folder) if folder is not None else None

    @property
    def folder(self) -> Path | None:
        return self._folder

    def all(self) -> list[CameraConfig]:
        """Every camera, in the order given."""
        with self._lock:
            return list(self._cameras.values())

    def get(self, camera_id: str) -> CameraConfig | None:
        with self._lock:
            return self._cameras.get(camera_id)

    def __contains__(self, camera_id: object) -> bool:
        with self._lock:
            return camera_id in self._cameras

    def __len__(self) -> int:
        with self._lock:
            return len(self._cameras)

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the lock across a read, a decision and a save (read-modify-write)."""
        with self._lock:
            yield

    def save_rules(self, camera_id: str, rules: Rules) -> CameraConfig:
        """Write the camera's rules into its file; the registry follows. Raises
        ``NoCamerasFolderError``, ``CameraConfigError`` (the file cannot be saved) and
        ``KeyError`` (a camera the registry does not hold)."""
        return self._save(camera_id, lambda folder: save_rules(folder, camera_id, rules))

    def save_analytics(self, camera_id: str, analytics: Analytics) -> CameraConfig:
        """Write the camera's analytics into its file; the registry follows (raises as
        ``save_rules``)."""
        return self._save(camera_id, lambda folder: save_analytics(folder, camera_id, analytics))

    def _save(self, camera_id: str, write: Callable[[Path], CameraConfig]) -> CameraConfig:
        with self._lock:
            if camera_id not in self._cameras:
                raise KeyError(camera_id)
            if self._folder is None:
                raise NoCamerasFolderError("this API has no cameras folder")
            updated = write(self._folder)
            self._cameras[camera_id] = updated
            return updated

    def on_disk(self) -> list[CameraConfig] | None:
        """The camera files as they are now (None: no cameras folder). Raises
        ``CameraConfigError`` when they do not load."""
        folder = self._folder
        if folder is None or not folder.is_dir():
            return None
        return load_cameras(folder)
