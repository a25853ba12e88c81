"""The plates service as a process against the real tansu broker: vehicle crops made
from real photos in, the right PlateReads out on plate_reads, keyed by camera."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from civicsight.bus import KafkaPublisher, KafkaSubscriber, Received
from civicsight.events import Box, Crop, ObjectClass, PlateRead

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[5]


def crop(
    media: Path, name: str, camera: str, track: int, t: float, cls: ObjectClass = "car"
) -> Crop:
    """A vehicle crop as the detect service sends it: the photo (a car close up)."""
    image = cv2.imread(str(media / "alpr_eu" / f"{name}.jpg"))
    assert image is not None, name
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    h, w = image.shape[:2]
    box = Box(x1=0, y1=0, x2=w, y2=h, cls=cls, conf=0.9, track_id=track)
    return Crop(
        camera_id=camera, track_id=track, captured_at=t, box=box, quality=0.8, jpeg=jpeg.tobytes()
    )


@pytest.fixture
def service(
    kafka: dict[str, str], tmp_path: Path, model_mirror: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, str, str]]:
    tag = uuid.uuid4().hex[:6]
    gate, plaza = f"gate-{tag}", f"plaza-{tag}"
    cams = tmp_path / "cameras"
    cams.mkdir()
    (cams / "gate.yaml").write_text(
        f"id: {gate}\nname: Gate\nsource: rtsp://cam/1\nanalytics: {{plates: true}}\n"
    )
    (cams / "plaza.yaml").write_text(f"id: {plaza}\nname: Plaza\nsource: rtsp://cam/2\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CIVICSIGHT_KAFKA_BOOTSTRAP": kafka["bootstrap.servers"],
        "CIVICSIGHT_CAMERAS_DIR": str(cams),
        "CIVICSIGHT_MODEL_MIRROR": str(model_mirror),
        "CIVICSIGHT_DATA_DIR": str(tmp_path / "data"),
        "CIVICSIGHT_PLATE_REGIONS": "europe",
    }
    log = tmp_path / "plates.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "civicsight.services.plates.main"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc, log, gate, plaza
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_vehicle_crops_become_plate_reads(
    kafka: dict[str, str],
    media_mirror: Path,
    service: tuple[subprocess.Popen[bytes], Path, str, str],
) -> None:
    """Guards against the wiring: crops of plate cameras read and voted per tracklet,
    other cameras and non-vehicles skipped, bad crops dead-lettered, events keyed by
    camera id on plate_reads, and a clean exit on SIGTERM."""
    proc, log, gate, plaza = service
    pub = KafkaPublisher(kafka, "plates-test")
    sent = [
        crop(media_mirror, "test_002", gate, 1, 1.0),
        crop(media_mirror, "eu10", gate, 2, 1.0),
        crop(media_mirror, "eu2", gate, 3, 1.0, cls="person"),  # not a vehicle
        crop(media_mirror, "test_013", plaza, 1, 1.0),  # plates off on this camera
        crop(media_mirror, "test_013", gate, 4, 1.0),
        crop(media_mirror, "test_013", gate, 4, 2.0),  # same track again: firmer
    ]
    for event in sent:
        pub.publish("crops", event.camera_id, event)
    broken = sent[1].model_copy(update={"track_id": 5, "jpeg": b"\xff\xd8 not a jpeg"})
    pub.publish("crops", gate, broken)
    pub.flush()

    sub = KafkaSubscriber(kafka, f"check-{uuid.uuid4().hex[:6]}", ["plate_reads"], pub)
    reads: list[tuple[str, PlateRead]] = []  # (key, event)
    want = {(gate, 1, "RK755AJ"), (gate, 2, "WA56660"), (gate, 4, "RK857AI")}

    def collect(batch: list[Received]) -> None:
        sub.done(batch)
        reads.extend(
            (r.key, r.event)
            for r in batch
            if r.key in (gate, plaza) and isinstance(r.event, PlateRead)
        )

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")
        collect(sub.poll_batch(50, 0.5))
        if want <= {(e.camera_id, e.track_id, e.text) for _, e in reads} and len(reads) >= 4:
            break
    time.sleep(1.0)
    collect(sub.poll_batch(50, 0.5))  # nothing more should come
    sub.close()

    assert {(e.camera_id, e.track_id, e.text) for _, e in reads} == want, log.read_text()
    assert all(key == e.camera_id for key, e in reads)
    track4 = [e for _, e in reads if e.track_id == 4]
    assert len(track4) == 2 and track4[1].conf > track4[0].conf
    assert len(reads) == 4

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    text = log.read_text(errors="replace")
    assert "dead-lettered crops" in text and "crop JPEG cannot be decoded" in text
