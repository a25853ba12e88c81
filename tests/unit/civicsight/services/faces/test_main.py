"""The faces service's batch step (``Faces.handle``), with the real models and stores and
no broker: what it publishes, dead-letters and keeps."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from civicsight.events import FaceObservation, ObjectClass
from civicsight.models.runtimes.face_encoder import FaceEncoder
from civicsight.services.faces.main import Faces
from civicsight.services.faces.matcher import WatchlistMatcher
from tests.unit.civicsight.services.faces.conftest import BAD_JPEG, crop, enrol_obama, received

Photo = Callable[[str], np.ndarray]


@pytest.fixture
def service(matcher: WatchlistMatcher) -> Faces:
    """The service as the runtime runs it, its models and stores already open."""
    faces = Faces(matcher.settings)
    faces.matcher = matcher
    return faces


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
    service: Faces,
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
    svc = service
    if watchlist:
        enrol_obama(svc.matcher, obama)
    svc.matcher.refresh(time.time())
    images: dict[str, np.ndarray | bytes] = {
        "obama": photo("test_obama1.jpg"),
        "alex": photo("test_alex_lacamoire1.jpg"),
        "bad": BAD_JPEG,
    }
    crops = [crop(images[who], cam, track, cls) for track, (who, cam, cls) in enumerate(batch)]
    out = svc.handle([received(c) for c in crops])
    assert [(k, e.track_id) for _, k, e in out.events] == published  # type: ignore[attr-defined]
    assert all(t == "face_matches" and isinstance(e, FaceObservation) for t, _, e in out.events)
    assert [r.message for r, _ in out.dead] == [f"msg-{i}" for i in dead]
    assert all(why == "crop JPEG cannot be decoded" for _, why in out.dead)
    alerts = svc.matcher.alerts.alerts()
    assert [(a.camera_id, a.track_id) for a in alerts] == published  # one alert each


def test_a_match_keeps_the_matched_face_with_its_alert(
    service: Faces,
    photo: Photo,
    obama: np.ndarray,
    encoder: FaceEncoder,
) -> None:
    """Guards the evidence for review: the alert keeps the face the service matched (a
    JPEG of the face region, not the whole crop), and it shows the enrolled person; the
    stranger in the same batch leaves neither an alert nor a face; the event on the bus
    carries no image."""
    svc = service.matcher
    enrol_obama(svc, obama)
    svc.refresh(time.time())
    crops = [
        crop(photo("test_alex_lacamoire1.jpg"), "cam-on", 1),
        crop(photo("test_obama1.jpg"), "cam-on", 2),
    ]
    out = service.handle([received(c) for c in crops])
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
    ((_, _, event),) = out.events
    assert "jpeg" not in type(event).model_fields and "face" not in type(event).model_fields
