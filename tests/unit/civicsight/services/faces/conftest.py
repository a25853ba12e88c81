"""Fixtures for the faces tests: the real YuNet + dlib models, the sample face photos,
camera files, crops and a matcher on real stores."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.bus import Received
from civicsight.events import Box, Crop, ObjectClass
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.matcher import WatchlistMatcher
from civicsight.services.faces.settings import FacesSettings
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore
from tests.faces_support import face_encoder, face_photo


@pytest.fixture(scope="session")
def encoder(model_mirror: Path) -> Iterator[FaceEncoder]:
    """YuNet-s and dlib's ResNet, as the service runs them."""
    with face_encoder(model_mirror) as enc:
        yield enc


@pytest.fixture(scope="session")
def photo() -> Callable[[str], np.ndarray]:
    """Loads a sample photo from ``<media mirror>/faces`` (BGR), once per session."""
    return face_photo


BAD_JPEG = b"\xff\xd8not a jpeg"
REASONS = (
    "  faces_purpose: find missing persons reported to the police\n"
    "  faces_legal_basis: court order 2026/118\n"
)


def write_camera(
    folder: Path, camera: str, faces: bool | None, extra: str = "", reasons: str = REASONS
) -> None:
    analytics = "" if faces is None else f"analytics:\n  faces: {str(faces).lower()}\n"
    if faces:
        analytics += reasons
    (folder / f"{camera}.yaml").write_text(
        f"id: {camera}\nname: {camera}\nsource: media:x\n{analytics}{extra}"
    )


def crop(image: np.ndarray | bytes, camera: str, track: int, cls: ObjectClass = "person") -> Crop:
    if isinstance(image, bytes):
        jpeg, (h, w) = image, (100, 100)
    else:
        ok, buf = cv2.imencode(".jpg", image)
        assert ok
        jpeg, (h, w) = buf.tobytes(), image.shape[:2]
    box = Box(x1=0, y1=0, x2=w, y2=h, cls=cls, conf=0.9, track_id=track)
    return Crop(
        camera_id=camera, track_id=track, captured_at=time.time(), box=box, quality=0.9, jpeg=jpeg
    )


def received(c: Crop) -> Received:
    return Received("crops", c.camera_id, c, message=f"msg-{c.track_id}")  # type: ignore[arg-type]


def enrol_obama(matcher: WatchlistMatcher, vectors: np.ndarray, days: float = 1) -> None:
    now = time.time()
    entry = WatchlistEntry(
        watchlist_id="wl",
        entry_id="e-1",
        label="x",
        case_id="2026/118",
        reason="test",
        added_by="pytest",
        added_at=now - 10,
        expires_at=now - 10 + days * DAY_S,
    )
    matcher.watchlist.add(entry, vectors, role="local")


@pytest.fixture
def cameras(tmp_path: Path) -> Path:
    folder = tmp_path / "cameras"
    folder.mkdir()
    write_camera(folder, "cam-on", True)
    write_camera(folder, "cam-off", False)
    write_camera(folder, "cam-default", None)
    return folder


@pytest.fixture
def matcher(tmp_path: Path, cameras: Path, encoder: FaceEncoder) -> Iterator[WatchlistMatcher]:
    """The matcher on real stores in a fresh data folder, with the real models."""
    settings = FacesSettings(data_dir=tmp_path / "data", cameras_dir=cameras)
    audit = AuditLog(settings.data_dir)
    audit.open()
    store = WatchlistStore(settings.watchlist_file, audit)
    store.open()
    alerts = AlertStore(settings.alerts_file, audit)
    alerts.open()
    yield WatchlistMatcher(settings, encoder, store, alerts)
    store.close()
    alerts.close()
    audit.close()


@pytest.fixture(scope="module")
def obama(encoder: FaceEncoder, photo: Callable[[str], np.ndarray]) -> np.ndarray:
    """Obama's embeddings from two photos, computed once (enrolment has its own tests)."""
    names = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
    vectors = encoder.largest_faces([photo(n) for n in names], 32)
    return np.stack([v for v in vectors if v is not None])
