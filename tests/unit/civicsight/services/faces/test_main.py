"""The faces service's batch handling and refresh, with the real models and no broker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.bus import Received
from civicsight.cameras import cameras_with
from civicsight.events import Box, Crop, Event, FaceObservation, ObjectClass
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.main import FacesService, FacesSettings
from civicsight.watchlist import DAY_S, WatchlistEntry, WatchlistStore

Photo = Callable[[str], np.ndarray]
BAD_JPEG = b"\xff\xd8not a jpeg"


class RecordingPublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Event]] = []

    def publish(self, topic_name: str, key: str, event: Event) -> None:
        self.sent.append((topic_name, key, event))

    def flush(self, timeout: float = 10.0) -> None:
        pass

    def close(self, timeout: float = 10.0) -> None:
        pass


class RecordingSubscriber:
    def __init__(self) -> None:
        self.dead: list[tuple[Any, str]] = []

    def poll_batch(self, max_messages: int, timeout: float) -> list[Received]:
        return []

    def done(self, items: Iterable[Received]) -> None:
        pass

    def dead_letter(self, msg: Any, reason: str) -> None:
        self.dead.append((msg, reason))

    def close(self) -> None:
        pass


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


@pytest.fixture
def cameras(tmp_path: Path) -> Path:
    folder = tmp_path / "cameras"
    folder.mkdir()
    write_camera(folder, "cam-on", True)
    write_camera(folder, "cam-off", False)
    write_camera(folder, "cam-default", None)
    return folder


@pytest.fixture
def service(
    tmp_path: Path, cameras: Path, encoder: FaceEncoder
) -> Iterator[tuple[FacesService, RecordingPublisher]]:
    settings = FacesSettings(data_dir=tmp_path / "data", cameras_dir=cameras)
    audit = AuditLog(settings.data_dir)
    audit.open()
    store = WatchlistStore(settings.watchlist_file, audit)
    store.open()
    alerts = AlertStore(settings.alerts_file, audit)
    alerts.open()
    publisher = RecordingPublisher()
    yield FacesService(settings, encoder, store, publisher, alerts), publisher
    store.close()
    alerts.close()
    audit.close()


@pytest.fixture(scope="module")
def obama(encoder: FaceEncoder, photo: Photo) -> np.ndarray:
    """Obama's embeddings from two photos, computed once (enrolment has its own tests)."""
    names = ("train_obama_obama.jpg", "train_obama_obama2.jpg")
    vectors = encoder.largest_faces([photo(n) for n in names], 32)
    return np.stack([v for v in vectors if v is not None])


def enrol_obama(svc: FacesService, vectors: np.ndarray, days: float = 1) -> None:
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
    svc.watchlist.add(entry, vectors, role="local")


def test_faces_are_off_unless_a_camera_enables_them(cameras: Path) -> None:
    """Guards the default: a camera file without ``analytics.faces: true`` is not used."""
    assert cameras_with(cameras, "faces") == frozenset({"cam-on"})


def test_a_broken_camera_folder_turns_faces_off(
    service: tuple[FacesService, RecordingPublisher], cameras: Path
) -> None:
    """Guards fail-closed: if the camera files stop loading, no camera keeps faces on."""
    svc, _ = service
    svc.refresh(time.time())
    assert svc.cameras == frozenset({"cam-on"})
    write_camera(cameras, "cam-bad", True, extra="race: x\n")
    svc.refresh(time.time())
    assert svc.cameras == frozenset()


def test_face_enabled_cameras_are_audited_once_per_change(
    service: tuple[FacesService, RecordingPublisher], cameras: Path, encoder: FaceEncoder
) -> None:
    """Guards accountability for the faces setting: the first time the service sees a
    camera with faces on, its purpose and legal basis go to the audit log; a restart does
    not repeat it; a changed legal basis and switching faces off are recorded again."""
    svc, _ = service
    svc.refresh(time.time())
    svc.refresh(time.time())
    restarted = FacesService(svc.settings, encoder, svc.watchlist, svc.publisher, svc.alerts)
    restarted.refresh(time.time())
    write_camera(cameras, "cam-on", True, reasons=REASONS.replace("2026/118", "2026/200"))
    restarted.refresh(time.time())
    write_camera(cameras, "cam-on", False)
    restarted.refresh(time.time())
    log = [(e.action, e.details["camera_id"], e.details.get("legal_basis"))
           for e in svc.audit.entries()]  # fmt: skip
    assert log == [
        ("camera.faces_enabled", "cam-on", "court order 2026/118"),
        ("camera.faces_enabled", "cam-on", "court order 2026/200"),
        ("camera.faces_disabled", "cam-on", None),
    ]
    assert "find missing persons" in svc.audit.entries()[0].details["purpose"]


def test_refresh_drops_expired_entries(
    service: tuple[FacesService, RecordingPublisher], obama: np.ndarray
) -> None:
    """Guards against matching (or keeping) an entry past its expiry while running."""
    svc, _ = service
    enrol_obama(svc, obama, days=1)
    svc.refresh(time.time())
    assert svc.index.entries == {("wl", "e-1")}
    svc.refresh(time.time() + 2 * DAY_S)
    assert len(svc.index) == 0 and svc.watchlist.entries() == []


@pytest.mark.parametrize(
    ("watchlist", "batch", "published", "dead"),
    [
        (True, [("obama", "cam-on", "person")], [("cam-on", 0)], []),
        (True, [("alex", "cam-on", "person")], [], []),
        (True, [("bad", "cam-on", "person")], [], [0]),
        (True, [("bad", "cam-off", "person"), ("obama", "cam-off", "person")], [], []),
        (True, [("bad", "cam-default", "person"), ("obama", "cam-on", "car")], [], []),
        (False, [("bad", "cam-on", "person"), ("obama", "cam-on", "person")], [], []),
        (
            True,
            [
                ("alex", "cam-on", "person"),
                ("obama", "cam-off", "person"),
                ("obama", "cam-on", "person"),
            ],
            [("cam-on", 2)],
            [],
        ),
    ],
    ids=[
        "enrolled-on-enabled-camera",
        "stranger",
        "bad-jpeg-dead-lettered",
        "disabled-camera-not-decoded",
        "default-camera-and-car-not-decoded",
        "empty-watchlist-nothing-decoded",
        "mixed-batch",
    ],
)  # fmt: skip
def test_handle_publishes_watchlist_matches_only(
    service: tuple[FacesService, RecordingPublisher],
    photo: Photo,
    obama: np.ndarray,
    watchlist: bool,
    batch: list[tuple[str, str, ObjectClass]],
    published: list[tuple[str, int]],
    dead: list[int],
) -> None:
    """Guards the service's privacy rules: nothing for strangers, nothing from cameras or
    classes without faces (their JPEG is never even decoded: a broken one is not noticed),
    nothing at all while the watchlist is empty."""
    svc, publisher = service
    if watchlist:
        enrol_obama(svc, obama)
    svc.refresh(time.time())
    images: dict[str, np.ndarray | bytes] = {
        "obama": photo("test_obama1.jpg"),
        "alex": photo("test_alex_lacamoire1.jpg"),
        "bad": BAD_JPEG,
    }
    crops = [crop(images[who], cam, track, cls) for track, (who, cam, cls) in enumerate(batch)]
    sub = RecordingSubscriber()
    svc.handle([received(c) for c in crops], sub)
    assert [(k, e.track_id) for _, k, e in publisher.sent] == published  # type: ignore[attr-defined]
    assert all(t == "face_matches" and isinstance(e, FaceObservation) for t, _, e in publisher.sent)
    assert [m for m, _ in sub.dead] == [f"msg-{i}" for i in dead]
    assert [(a.camera_id, a.track_id) for a in svc.alerts.alerts()] == published  # one alert each


def test_a_match_keeps_the_matched_face_with_its_alert(
    service: tuple[FacesService, RecordingPublisher],
    photo: Photo,
    obama: np.ndarray,
    encoder: FaceEncoder,
) -> None:
    """Guards the evidence for review: the alert keeps the face the service matched (a
    JPEG of the face region, not the whole crop), and it shows the enrolled person; the
    stranger in the same batch leaves neither an alert nor a face; the event on the bus
    carries no image."""
    svc, publisher = service
    enrol_obama(svc, obama)
    svc.refresh(time.time())
    crops = [
        crop(photo("test_alex_lacamoire1.jpg"), "cam-on", 1),
        crop(photo("test_obama1.jpg"), "cam-on", 2),
    ]
    svc.handle([received(c) for c in crops], RecordingSubscriber())
    (alert,) = svc.alerts.alerts()
    assert alert.track_id == 2 and alert.threshold == svc.settings.face_threshold
    face = svc.alerts.face(alert.alert_id)
    assert face is not None
    image = cv2.imdecode(np.frombuffer(face, np.uint8), cv2.IMREAD_COLOR)
    whole = photo("test_obama1.jpg")
    assert image.shape[0] * image.shape[1] < 0.5 * whole.shape[0] * whole.shape[1]
    (vector,) = encoder.largest_faces([image], 32)
    assert vector is not None
    assert float(np.linalg.norm(obama - vector, axis=1).min()) < svc.settings.face_threshold
    assert (
        svc.alerts.db.execute("SELECT COUNT(*) FROM alerts WHERE face IS NOT NULL").fetchone()[0]
        == 1
    )
    ((_, _, event),) = publisher.sent
    assert "jpeg" not in type(event).model_fields and "face" not in type(event).model_fields
