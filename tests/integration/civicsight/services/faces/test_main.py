"""The faces service (``python -m services.faces.main``) on the real broker and models."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import cv2
import pytest
from confluent_kafka import Consumer, TopicPartition

from civicsight.bus import KafkaPublisher, KafkaSubscriber
from civicsight.events import Box, Crop, FaceObservation, ObjectClass
from civicsight.images import read_image
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from civicsight.topics import topic
from tests.integration.civicsight.services.faces.service import enrol_obama, start_faces

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[5]


def person_crop(
    path: Path, camera: str, track: int, cls: ObjectClass = "person", jpeg: bytes | None = None
) -> Crop:
    """A crop as the detect service makes it, from a photo of someone (max 800 px)."""
    image = read_image(path)
    scale = min(1.0, 800 / max(image.shape[:2]))
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    h, w = image.shape[:2]
    return Crop(
        camera_id=camera,
        track_id=track,
        captured_at=time.time(),
        box=Box(x1=0, y1=0, x2=w, y2=h, cls=cls, conf=0.9, track_id=track),
        quality=0.9,
        jpeg=jpeg or encoded.tobytes(),
    )


def write_camera(folder: Path, camera: str, faces: bool) -> None:
    analytics = (
        "analytics:\n  faces: true\n  faces_purpose: integration test of the faces service\n"
        "  faces_legal_basis: test fixture, no real person\n"
        if faces
        else ""
    )
    (folder / f"{camera}.yaml").write_text(
        f"id: {camera}\nname: {camera}\nsource: media:faces\n{analytics}"
    )


def all_processed(kafka: dict[str, str], group: str) -> bool:
    """True once ``group`` has committed every crop on the topic: each was handled."""
    probe = Consumer({**kafka, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition("crops", p) for p in range(topic("crops").partitions)]
        committed = probe.committed(parts, timeout=10)
        for tp in committed:
            low, high = probe.get_watermark_offsets(tp, timeout=10)
            if high > low and tp.offset < high:
                return False
        return True
    finally:
        probe.close()


def test_only_enrolled_faces_on_enabled_cameras_are_reported(
    kafka: dict[str, str], tmp_path: Path, model_mirror: Path, media_mirror: Path
) -> None:
    """Enrol Obama; send crops of him and of a stranger from a faces-enabled camera, and
    of him from a camera without faces. Exactly one match may come out: Obama on the
    enabled camera. Guards the per-camera opt-in and the watchlist-only rule end to end."""
    faces = media_mirror / "faces"
    run = uuid.uuid4().hex[:8]
    on, off = f"faces-on-{run}", f"faces-off-{run}"
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    write_camera(cameras, on, faces=True)
    write_camera(cameras, off, faces=False)

    data = tmp_path / "data"
    encoder = FaceEncoder.from_registry(
        ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", model_mirror, None)
    )
    encoder.start()
    enrol_obama(data, faces, encoder, "test-1")
    encoder.close()

    group = f"faces-{run}"
    log = tmp_path / "faces.log"
    service = start_faces(kafka, data, cameras, model_mirror, group, log)
    pub = KafkaPublisher(kafka, "test")
    sub: KafkaSubscriber | None = None
    got: list[FaceObservation] = []
    try:
        obama = faces / "test_obama1.jpg"
        crops = [
            person_crop(faces / "test_alex_lacamoire1.jpg", on, 1),  # stranger
            person_crop(obama, on, 2, cls="car"),  # not a person crop
            person_crop(obama, on, 3, jpeg=b"\xff\xd8not a jpeg"),  # dead-lettered
            person_crop(obama, off, 4),  # camera without faces
            person_crop(obama, on, 5),  # the one match
        ]
        for crop in crops:
            pub.publish("crops", crop.camera_id, crop)
        pub.flush()

        sub = KafkaSubscriber(kafka, f"check-{run}", ["face_matches"], pub)
        deadline = time.monotonic() + 90
        done = False
        while time.monotonic() < deadline and not done:
            for r in sub.poll_batch(50, 0.5):
                if isinstance(r.event, FaceObservation) and r.event.camera_id in (on, off):
                    got.append(r.event)
            assert service.poll() is None, log.read_text()[-3000:]
            done = bool(got) and all_processed(kafka, group)
        for r in sub.poll_batch(50, 1.0):  # anything still in flight
            if isinstance(r.event, FaceObservation) and r.event.camera_id in (on, off):
                got.append(r.event)
    finally:
        if sub is not None:
            sub.close()
        pub.close()
        service.send_signal(signal.SIGTERM)
        try:
            code = service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            code = service.wait()
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert [(o.camera_id, o.track_id, o.watchlist_id, o.entry_id) for o in got] == [
        (on, 5, "test", "obama")
    ], text[-3000:]
    (match,) = got
    assert match.threshold == 0.5 and 0 < match.score <= 1
    assert "dead-lettered crops" in text
    assert "Barack Obama" not in text  # the label never leaves the watchlist
