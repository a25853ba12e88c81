"""A face that matches no watchlist entry leaves no trace: not on any topic, not in any
file of the data folder (stores, audit log), not in the service's log."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Consumer, TopicPartition

from civicsight.alert_store import AlertStore
from civicsight.audit import AuditLog
from civicsight.bus import KafkaPublisher, KafkaSubscriber
from civicsight.events import FaceObservation
from civicsight.images import decode_jpeg
from civicsight.models.runtimes.face_encoder import FaceEncoder, ModelChoice
from civicsight.topics import TOPICS
from tests.integration.civicsight.services.faces.service import enrol_obama, start_faces
from tests.integration.civicsight.services.faces.test_main import (
    all_processed,
    person_crop,
    write_camera,
)

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[5]


def needles(vector: np.ndarray) -> tuple[list[bytes], list[str]]:
    """Ways an embedding could be written down: raw float32/float64 bytes, and its
    largest components as text (6 decimals, as JSON, numpy or a log line would show)."""
    v = np.asarray(vector, np.float32)
    binary = [v[:4].tobytes(), v.astype(np.float64)[:4].tobytes()]
    top = np.argsort(-np.abs(v))[:3]
    text = [f"{float(v[i]):.6f}" for i in top]
    return binary, text


def traces(blob: bytes, binary: list[bytes], text: list[str]) -> list[str]:
    found = [f"bytes {n.hex()[:16]}" for n in binary if n in blob]
    found += [t for t in text if t.encode() in blob]
    return found


def all_messages(kafka: dict[str, str]) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of every message on every topic and dead-letter topic."""
    consumer = Consumer({**kafka, "group.id": f"scan-{uuid.uuid4().hex[:6]}"})
    out: list[tuple[str, bytes, bytes]] = []
    try:
        for t in TOPICS:
            for name, parts in ((t.name, t.partitions), (t.dlq, 1)):
                for p in range(parts):
                    low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                    if high <= low:
                        continue
                    consumer.assign([TopicPartition(name, p, low)])
                    got = 0
                    while got < high - low:
                        batch = consumer.consume(500, 5.0)
                        if not batch:
                            break
                        for m in batch:
                            if m.error() is None:
                                out.append((name, m.key() or b"", m.value() or b""))
                                got += 1
    finally:
        consumer.close()
    return out


def test_a_face_that_matches_nothing_leaves_no_trace(
    kafka: dict[str, str], tmp_path: Path, model_mirror: Path, media_mirror: Path
) -> None:
    """Send a stranger's crop, then an enrolled person's, from one faces-enabled camera
    (same partition, so the stranger is handled first). Once the enrolled match is out,
    the stranger's face has been embedded and compared. Guards against its embedding, or
    anything about its track, reaching a topic, a store, the audit log or a log line."""
    faces = media_mirror / "faces"
    run = uuid.uuid4().hex[:8]
    cam = f"trace-{run}"
    cameras = tmp_path / "cameras"
    cameras.mkdir()
    write_camera(cameras, cam, faces=True)
    data = tmp_path / "data"

    stranger = person_crop(faces / "test_alex_lacamoire1.jpg", cam, 1)
    known = person_crop(faces / "test_obama1.jpg", cam, 2)
    encoder = FaceEncoder.from_registry(
        ModelChoice("face-det-yunet-s", "face-embed-dlib-resnet", model_mirror, None)
    )
    encoder.start()
    image = decode_jpeg(stranger.jpeg)
    assert image is not None
    (vector,) = encoder.largest_faces([image], 32)
    assert vector is not None  # the stranger's face is found and embedded
    enrol_obama(data, faces, encoder, "test-2")
    encoder.close()
    binary, text = needles(vector)
    planted = b"x" + np.asarray(vector, np.float32).tobytes() + f" {text[0]} ".encode()
    assert len(traces(planted, binary, text)) == 2  # the search itself can find a trace

    group = f"faces-{run}"
    log = tmp_path / "faces.log"
    service = start_faces(
        kafka, data, cameras, model_mirror, group, log, CIVICSIGHT_LOG_LEVEL="DEBUG"
    )
    pub = KafkaPublisher(kafka, "test")
    sub: KafkaSubscriber | None = None
    got: list[FaceObservation] = []
    try:
        pub.publish("crops", cam, stranger)
        pub.publish("crops", cam, known)
        pub.flush()
        sub = KafkaSubscriber(kafka, f"check-{run}", ["face_matches"], pub)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (got and all_processed(kafka, group)):
            for r in sub.poll_batch(50, 0.5):
                if isinstance(r.event, FaceObservation) and r.event.camera_id == cam:
                    got.append(r.event)
            assert service.poll() is None, log.read_text()[-3000:]
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
    log_text = log.read_text()
    assert code == 0, log_text[-3000:]
    assert [(o.track_id, o.entry_id) for o in got] == [(2, "obama")], log_text[-3000:]

    # topics: the stranger's crop is the only message about its track
    for name, key, value in all_messages(kafka):
        if name != "crops":
            assert not traces(value, binary, text), name
        if key == cam.encode() and name != "crops":
            assert b'"track_id":1,' not in value and b'"track_id":1}' not in value, name
    # every file the service wrote: stores, audit log, key, head, WAL files
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"watchlist.db", "alerts.db", "audit.db"}
    for path in files:
        assert not traces(path.read_bytes(), binary, text), path
    # the log, at DEBUG level
    assert not traces(log_text.encode(), binary, text)
    # the stores hold the match only
    with AuditLog(data) as audit:
        alerts = AlertStore(data / "alerts.db", audit)
        alerts.open()
        assert [(a.track_id, a.entry_id) for a in alerts.alerts()] == [(2, "obama")]
        alerts.close()
        raised = [e.details for e in audit.entries(action="alert.raised")]
        assert [(d["camera_id"], d["track_id"]) for d in raised] == [(cam, 2)]
        assert all(e.details.get("track_id") != 1 for e in audit.entries())
        assert audit.verify().ok
