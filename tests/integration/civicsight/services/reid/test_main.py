"""The re-ID service (``python -m services.reid.main``) on the real broker and models."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition

from civicsight.bus import KafkaPublisher, KafkaSubscriber
from civicsight.events import Appearance, Box, Crop, ObjectClass
from civicsight.topics import topic
from tests.unit.civicsight.services.reid.walkers import ENTERING, STANDING, crop

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[5]
CAR = ("alpr_eu/eu8.jpg", (28, 43, 952, 655))  # red saloon, box from the hub's detector


def crop_event(
    camera: str,
    track: int,
    cls: ObjectClass,
    box: tuple[int, int, int, int],
    pixels: np.ndarray,
    jpeg: bytes | None = None,
) -> Crop:
    """A crop as the detect service publishes it."""
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    x1, y1, x2, y2 = box
    return Crop(
        camera_id=camera,
        track_id=track,
        captured_at=time.time(),
        box=Box(x1=x1, y1=y1, x2=x2, y2=y2, cls=cls, conf=0.9, track_id=track),
        quality=0.9,
        jpeg=jpeg or encoded.tobytes(),
    )


def write_camera(folder: Path, camera: str, reid: bool) -> None:
    (folder / f"{camera}.yaml").write_text(
        f"id: {camera}\nname: {camera}\nsource: media:walkway.mp4\n"
        f"analytics: {{detect: true, reid: {str(reid).lower()}}}\n"
    )


def all_processed(kafka: dict[str, str], group: str) -> bool:
    """True once ``group`` has committed every crop on the topic: each was handled."""
    probe = Consumer({**kafka, "group.id": group, "enable.auto.commit": False})
    try:
        parts = [TopicPartition("crops", p) for p in range(topic("crops").partitions)]
        for tp in probe.committed(parts, timeout=10):
            low, high = probe.get_watermark_offsets(tp, timeout=10)
            if high > low and tp.offset < high:
                return False
        return True
    finally:
        probe.close()


def test_appearances_for_reid_cameras_only(
    kafka: dict[str, str], tmp_path: Path, model_mirror: Path, media_mirror: Path
) -> None:
    """Real walker crops on a reid-enabled camera come back as 256-d unit vectors (two
    views of a walker closer than two walkers); the same crops on a camera without re-ID,
    a blurred close-up and an undecodable JPEG give none. Guards the per-camera opt-in,
    the quality gate and the bus wiring end to end."""
    run = uuid.uuid4().hex[:8]
    on, off = f"reid-on-{run}", f"reid-off-{run}"
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    write_camera(cameras, on, reid=True)
    write_camera(cameras, off, reid=False)

    (a1, box_a1), (a2, box_a2) = STANDING[1]
    (b1, box_b1), _ = STANDING[4]
    enter, box_enter = ENTERING[1]
    photo = cv2.imread(str(media_mirror / CAR[0]))
    assert photo is not None
    x1, y1, x2, y2 = CAR[1]
    crops = [
        crop_event(off, 1, "person", box_a1, crop(a1, box_a1)),  # camera without re-ID
        crop_event(off, 2, "person", box_b1, crop(b1, box_b1)),
        crop_event(on, 3, "person", box_a1, crop(a1, box_a1), jpeg=b"\xff\xd8not a jpeg"),
        crop_event(on, 4, "person", box_enter, crop(enter, box_enter)),  # blurred close-up
        crop_event(on, 11, "person", box_a1, crop(a1, box_a1)),  # walker 1
        crop_event(on, 12, "person", box_a2, crop(a2, box_a2)),  # walker 1 again
        crop_event(on, 13, "person", box_b1, crop(b1, box_b1)),  # walker 4
        crop_event(on, 14, "car", CAR[1], photo[y1:y2, x1:x2]),
    ]
    pub = KafkaPublisher(kafka, "test")
    for c in crops:
        pub.publish("crops", c.camera_id, c)
    pub.flush()

    group = f"reid-{run}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "YOLO_OFFLINE": "1",
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_DATA_DIR": str(tmp_path / "data"),
        "CIVICSIGHT_CAMERAS_DIR": str(cameras),
        "CIVICSIGHT_MODEL_MIRROR": str(model_mirror),
        "CIVICSIGHT_REID_GROUP": group,
        "CIVICSIGHT_REID_BATCH_WAIT_MS": "50",
    }
    log = tmp_path / "reid.log"
    with log.open("wb") as out:
        service = subprocess.Popen(
            [sys.executable, "-m", "civicsight.services.reid.main"], env=env, stderr=out, cwd=REPO
        )
    sub = KafkaSubscriber(kafka, f"check-{run}", ["appearances"], pub)
    got: dict[int, Appearance] = {}
    try:
        deadline = time.monotonic() + 90
        done = False
        while time.monotonic() < deadline and not done:
            for r in sub.poll_batch(50, 0.5):
                if isinstance(r.event, Appearance) and r.event.camera_id in (on, off):
                    assert r.key == r.event.camera_id
                    got[r.event.track_id] = r.event
            assert service.poll() is None, log.read_text()[-3000:]
            done = len(got) >= 4 and all_processed(kafka, group)
        for r in sub.poll_batch(50, 1.0):  # anything still in flight
            if isinstance(r.event, Appearance) and r.event.camera_id in (on, off):
                got[r.event.track_id] = r.event
    finally:
        sub.close()
        service.send_signal(signal.SIGTERM)
        try:
            code = service.wait(30)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
            raise
    assert code == 0, log.read_text()[-3000:]
    assert sorted(got) == [11, 12, 13, 14], log.read_text()[-3000:]
    assert {e.camera_id for e in got.values()} == {on}
    vectors = {t: np.array(e.embedding) for t, e in got.items()}
    for t, v in vectors.items():
        assert v.shape == (256,)
        assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-3), t
    assert got[11].model == "reid-person-0277@omz-0277-fp16"
    assert (got[14].cls, got[14].model) == (
        "car",
        "vehicle-attributes-0039@omz-0039+trunk+hsv8x4x4",
    )
    same = float(vectors[11] @ vectors[12])
    different = float(vectors[11] @ vectors[13])
    assert same > 0.8 and different < 0.6, (same, different)
    assert "crop JPEG cannot be decoded" in log.read_text()
